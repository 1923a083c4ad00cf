"""The RDS CA bundle the layer ships holds Amazon RDS roots and nothing else, as its provenance says."""

from __future__ import annotations

import hashlib
import re

from cryptography import x509
from cryptography.x509.oid import NameOID

from charlee_collector.store.tls import RDS_CA_BUNDLE

# Preview and Beta: the regions AWS tests RDS in ship roots of their own in the same bundle.
ROOT_NAME = re.compile(r"^Amazon RDS (Preview |Beta )?[a-z0-9-]+ Root CA (RSA2048|RSA4096|ECC384) G1$")


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    (value,) = name.get_attributes_for_oid(oid)
    return str(value.value)


def test_every_certificate_is_a_self_signed_amazon_rds_root() -> None:
    certificates = x509.load_pem_x509_certificates(RDS_CA_BUNDLE.read_bytes())
    assert len(certificates) >= 90  # three roots per region
    for certificate in certificates:
        subject = certificate.subject
        assert certificate.issuer == subject
        certificate.verify_directly_issued_by(certificate)  # signed by its own key: raises if not
        assert ROOT_NAME.match(_attribute(subject, NameOID.COMMON_NAME)), subject
        assert _attribute(subject, NameOID.ORGANIZATION_NAME) == "Amazon Web Services, Inc."
        assert _attribute(subject, NameOID.ORGANIZATIONAL_UNIT_NAME) == "Amazon RDS"
        assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    fingerprints = [
        certificate.fingerprint(certificate.signature_hash_algorithm) for certificate in certificates
    ]  # type: ignore[arg-type]
    assert len(set(fingerprints)) == len(fingerprints)


def test_the_provenance_note_names_the_shipped_bytes() -> None:
    digest = hashlib.sha256(RDS_CA_BUNDLE.read_bytes()).hexdigest()
    note = (RDS_CA_BUNDLE.parent / "PROVENANCE.md").read_text()
    assert f"sha256 `{digest}`" in note
