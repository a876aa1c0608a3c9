"""A throw-away test CA and the server certificates it signs:
  ca.pem                          the CA clients trust (printed as ca_file)
  server.pem / server.key         CN 127.0.0.1, SAN IP 127.0.0.1 + DNS localhost
  expired.pem / expired.key       same names, validity ended yesterday
  wrong_host.pem / wrong_host.key CN/SAN other.example only
All keys are EC P-256 (fast to make). `--cert-mode` picks which one is served."""

import datetime
import ipaddress
import os
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERT_MODES = ("valid", "expired", "wrong_host")
_FILES = {"valid": "server", "expired": "expired", "wrong_host": "wrong_host"}


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "walletsign mock"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path, key):
    with open(path, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))


def _write_cert(path, cert):
    with open(path, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))


def _make_ca(now):
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("walletsign mock test CA")
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                         False, False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _make_leaf(ca_key, ca_cert, common_name, sans, not_before, not_after):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(_name(common_name)).issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def create_certificates(state_dir) -> dict:
    """Write the CA and the three server certificates; returns file paths."""
    now = datetime.datetime.utcnow()
    day = datetime.timedelta(days=1)
    local = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    ca_key, ca_cert = _make_ca(now)
    paths = {"ca_file": os.path.join(state_dir, "ca.pem")}
    _write_cert(paths["ca_file"], ca_cert)
    leaves = {
        "valid": ("127.0.0.1", local, now - day, now + 30 * day),
        "expired": ("127.0.0.1", local, now - 30 * day, now - day),
        "wrong_host": ("other.example", [x509.DNSName("other.example")], now - day, now + 30 * day),
    }
    for mode, (cn, sans, start, end) in leaves.items():
        key, cert = _make_leaf(ca_key, ca_cert, cn, sans, start, end)
        base = os.path.join(state_dir, _FILES[mode])
        _write_cert(base + ".pem", cert)
        _write_key(base + ".key", key)
        paths[mode] = (base + ".pem", base + ".key")
    return paths


def server_context(paths: dict, cert_mode="valid") -> ssl.SSLContext:
    if cert_mode not in CERT_MODES:
        raise ValueError("cert mode must be one of %s" % ", ".join(CERT_MODES))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(*paths[cert_mode])
    return ctx
