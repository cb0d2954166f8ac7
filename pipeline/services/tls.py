"""A certificate authority the project generates for its local TLS registry and token service.

Three things are issued, all by one CA:

* a server certificate for ``127.0.0.1`` / ``localhost`` with IP and DNS subject alternative
  names (Go's TLS stack, used by the Distribution registry and dockerd, ignores the common name
  and checks SANs only: ``crypto/x509`` ``VerifyHostname``);
* a token-signing key and certificate for the Distribution registry's token auth: the registry
  trusts a token when the certificate chain in its ``x5c`` header verifies against
  ``auth.token.rootcertbundle`` (distribution ``registry/auth/token/token.go``,
  ``parseAndVerifyCertChain``), so the bundle is this CA.

Everything is written as PEM files under one directory; private keys are mode 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=7)
_CLOCK_SKEW = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class CertificateAuthority:
    """The CA's certificate (``cert``, PEM file) and key, kept in memory to issue leaves."""

    cert_path: Path
    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    def __repr__(self) -> str:
        return f"CertificateAuthority(cert_path={str(self.cert_path)!r})"


@dataclass(frozen=True)
class KeyPair:
    """A leaf certificate and its private key, both as PEM files."""

    cert_path: Path
    key_path: Path


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pipeline sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def create_ca(directory: Path, common_name: str = "pipeline sandbox CA") -> CertificateAuthority:
    """A new self-signed CA written to ``directory/ca.crt``."""
    directory.mkdir(parents=True, exist_ok=True)
    key = _new_key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "ca.crt"
    _write_cert(cert_path, cert)
    return CertificateAuthority(cert_path=cert_path, cert=cert, key=key)


def _issue(
    ca: CertificateAuthority,
    directory: Path,
    stem: str,
    common_name: str,
    *,
    server: bool,
) -> KeyPair:
    directory.mkdir(parents=True, exist_ok=True)
    key = _new_key()
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                    x509.IPAddress(ipaddress.IPv6Address("::1")),
                ]
            ),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    pair = KeyPair(cert_path=directory / f"{stem}.crt", key_path=directory / f"{stem}.key")
    _write_cert(pair.cert_path, cert)
    _write_key(pair.key_path, key)
    return pair


def issue_server_cert(ca: CertificateAuthority, directory: Path) -> KeyPair:
    """A TLS server certificate for 127.0.0.1, ::1 and localhost."""
    return _issue(ca, directory, "server", "127.0.0.1", server=True)


def issue_token_signing_cert(ca: CertificateAuthority, directory: Path) -> KeyPair:
    """The key a token service signs JWTs with, and its certificate for the ``x5c`` header."""
    return _issue(ca, directory, "token-signing", "pipeline token service", server=False)
