"""How long a bootstrap step dials a machine before it fails: minutes for the first contact with a
new instance (it is booting), under a minute for every later step, so a machine this computer may
not reach (sshAllowedCidrs) fails the step soon, not after ten minutes."""

from pytest import approx

from infra.remote import FIRST_CONTACT, LATER_STEPS, DialBudget

STEP_TYPES = ("command:remote:Command", "command:remote:CopyToRemote")


def budgets(connection: dict) -> list[DialBudget]:
    """The dial budget of the connection and of its jump host, as declared."""
    hops = [connection, *([connection["proxy"]] if connection.get("proxy") else [])]
    return [DialBudget(hop["dialErrorLimit"], hop["perDialTimeout"]) for hop in hops]


def test_pulumi_commands_retry_pauses_are_counted():
    # 3 dials of 10 s and the pauses between them: 0.1 s, then 0.15 s.
    assert DialBudget(error_limit=2, seconds_per_dial=10).worst_case_seconds() == approx(30.25)


def test_a_later_step_fails_within_a_minute_and_the_first_contact_waits_minutes():
    assert LATER_STEPS.worst_case_seconds() < 60
    assert FIRST_CONTACT.worst_case_seconds() > 10 * 60


def test_only_the_waits_for_a_new_machine_dial_long(deployment):
    steps = [s for t in STEP_TYPES for s in deployment.of_type(t)]
    first_contacts = [s for s in steps if s.name.endswith(("-sshd", "-cloud-init"))]
    assert sorted(s.name for s in first_contacts) == [
        "hub-cloud-init",
        "hub-sshd",
        "nfs-cloud-init",
        "workers-0-cloud-init",
        "workers-1-cloud-init",
    ]
    for step in steps:
        expected = FIRST_CONTACT if step in first_contacts else LATER_STEPS
        assert budgets(step.inputs["connection"]) in ([expected], [expected, expected]), step.name
