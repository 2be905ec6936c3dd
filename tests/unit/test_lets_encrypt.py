"""The hub's certificate in the program: configure-nginx's Let's Encrypt options, its warning
repeated by `pulumi up`, and the DNS record an organizer without a Route 53 zone must create."""

import logging

import pytest
from program import CampMocks, deploy

from infra.config import DomainSpec
from infra.jupyterhub import lets_encrypt_options

DOMAIN = {"domain": "j.camp.test", "letsEncryptEmail": "o@camp.test"}
CERTBOT_WARNING = (
    "WARNING: no certificate from Let's Encrypt yet: Timeout during connect (likely firewall "
    "problem). The hub serves its self-signed certificate meanwhile and retries every 15 minutes "
    "(README: 'The certificate never comes')"
)


class NoCertificateYet(CampMocks):
    """configure-nginx reporting that certbot failed, as it does on the hub."""

    def _stdout(self, name: str) -> str:
        if name == "hub-configure-nginx":
            return f"configure-nginx: site enabled; nginx reloaded; {CERTBOT_WARNING}\n"
        return super()._stdout(name)


def warnings_logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def configure_nginx_line(deployment) -> str:
    return deployment.named("hub-configure-nginx").inputs["create"]


@pytest.mark.parametrize(
    ("staging", "options"),
    [
        (False, ["--letsencrypt-email", "o@camp.test"]),
        (True, ["--letsencrypt-email", "o@camp.test", "--letsencrypt-ca", "staging"]),
    ],
)
def test_the_ca_is_lets_encrypts_production_unless_staging_is_asked_for(staging, options):
    domain = DomainSpec("j.camp.test", "o@camp.test", None, lets_encrypt_staging=staging)
    assert lets_encrypt_options(domain) == options


def test_without_a_domain_there_is_no_lets_encrypt():
    assert lets_encrypt_options(None) == []


def test_staging_reaches_configure_nginx(base_config):
    staging = deploy({**base_config, **DOMAIN, "letsEncryptStaging": True})
    assert "--letsencrypt-ca staging" in configure_nginx_line(staging)
    production = deploy({**base_config, **DOMAIN, "letsEncryptStaging": False})
    assert "--letsencrypt-ca" not in configure_nginx_line(production)


def test_certbots_failure_is_repeated_as_a_pulumi_warning(base_config, caplog):
    caplog.set_level(logging.WARNING)
    deploy({**base_config, **DOMAIN}, mocks=NoCertificateYet())
    assert f"{CERTBOT_WARNING} (as this step reported when it last ran)" in warnings_logged(caplog)


def test_a_certificate_that_came_gives_no_warning(base_config, caplog):
    caplog.set_level(logging.WARNING)
    deploy({**base_config, **DOMAIN, "hostedZone": "camp.test"})
    assert [w for w in warnings_logged(caplog) if "certificate" in w] == []


def test_a_domain_outside_route53_prints_the_record_to_create(base_config, caplog):
    caplog.set_level(logging.WARNING)
    deployment = deploy({**base_config, **DOMAIN})
    assert deployment.outputs["dnsRecordToCreate"] == "j.camp.test A 203.0.113.10"
    (warning,) = [w for w in warnings_logged(caplog) if "j.camp.test A 203.0.113.10" in w]
    assert "camphub:hostedZone is not set, so create this DNS record yourself" in warning


def test_the_urls_use_the_domain_without_route53(base_config):
    outputs = deploy({**base_config, **DOMAIN}).outputs
    assert outputs["hubUrl"] == "https://j.camp.test"
    assert outputs["oauthCallbackUrl"].startswith("https://j.camp.test/")


@pytest.mark.parametrize("zone", [{"hostedZone": "camp.test"}, {"domain": None}])
def test_with_our_zone_or_no_domain_there_is_no_record_to_create(base_config, zone, caplog):
    caplog.set_level(logging.WARNING)
    values = {k: v for k, v in {**base_config, **DOMAIN, **zone}.items() if v is not None}
    if "domain" not in values:
        values.pop("letsEncryptEmail")
    deployment = deploy(values)
    assert "dnsRecordToCreate" not in deployment.outputs
    assert [w for w in warnings_logged(caplog) if "DNS record" in w] == []
