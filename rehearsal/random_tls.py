"""The random and tls providers as the rehearsal plays them: values generated here, kept in the
rehearsal's state so they stay the same across runs (the engine reuses an unchanged record)."""

import base64
import secrets
import string
import uuid

from rehearsal.environment import Environment, Handler, plausible_id


def _random_password(env: Environment, args, previous):
    length = int(args.inputs.get("length") or 16)
    alphabet = string.ascii_letters + string.digits
    value = "".join(secrets.choice(alphabet) for _ in range(length))
    return plausible_id(args.typ, args.name), {"result": value}, {}


def _random_id(env: Environment, args, previous):
    raw = secrets.token_bytes(int(args.inputs.get("byteLength") or 8))
    outputs = {
        "hex": raw.hex(),
        "b64Std": base64.b64encode(raw).decode(),
        "b64Url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "dec": str(int.from_bytes(raw, "big")),
    }
    return raw.hex(), outputs, {}


def _random_bytes(env: Environment, args, previous):
    raw = secrets.token_bytes(int(args.inputs.get("length") or 32))
    outputs = {"base64": base64.b64encode(raw).decode(), "hex": raw.hex()}
    return plausible_id(args.typ, args.name), outputs, {}


def _random_uuid(env: Environment, args, previous):
    value = str(uuid.uuid4())
    return value, {"result": value}, {}


def _private_key(env: Environment, args, previous):
    key = _generate_ssh_key(args.inputs.get("algorithm", "ED25519"))
    return plausible_id(args.typ, args.name), key, {}


def _generate_ssh_key(algorithm: str) -> dict[str, str]:
    """What tls.PrivateKey returns, for the algorithms an SSH key uses."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    key = (
        ed25519.Ed25519PrivateKey.generate()
        if algorithm == "ED25519"
        else (rsa.generate_private_key(public_exponent=65537, key_size=4096))
    )
    openssh = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    pem_format = (
        serialization.PrivateFormat.PKCS8
        if algorithm == "ED25519"
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, pem_format, serialization.NoEncryption()
    ).decode()
    return {
        "privateKeyOpenssh": openssh,
        "privateKeyPem": pem,
        "publicKeyOpenssh": public + "\n",
        "algorithm": algorithm,
    }


HANDLERS = {
    "random:index/randomBytes:RandomBytes": Handler(_random_bytes),
    "random:index/randomPassword:RandomPassword": Handler(_random_password),
    "random:index/randomString:RandomString": Handler(_random_password),
    "random:index/randomId:RandomId": Handler(_random_id),
    "random:index/randomUuid:RandomUuid": Handler(_random_uuid),
    "tls:index/privateKey:PrivateKey": Handler(_private_key),
}
