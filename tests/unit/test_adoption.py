"""nfs.adoptHomesVolume: a destroyed camp's kept homes volume is attached instead of a new one, the
program never owns it (so no destroy deletes it), and each volume it cannot use is refused, named
with its fix, before anything is declared. EC2's answers are played by the mocks."""

import pytest
from program import RecordingMonitor, deploy
from test_zones import SUBNETS, ZoneMocks, everywhere

from infra.backups import BACKUP_TAG
from infra.errors import ConfigError

VOLUME = "aws:ebs/volume:Volume"
ATTACHMENT = "aws:ec2/volumeAttachment:VolumeAttachment"
TAG = "aws:ec2/tag:Tag"
KEPT = "vol-0a1b2c3d4e5f60718"
EVERY_TYPE = ["t3.medium", "t3.small", "t3.xlarge"]


def kept_volume(**changes) -> dict:
    """The volume as EC2 describes it: a destroyed camp's, kept in the camp's zone."""
    volume = {
        "id": KEPT,
        "volumeId": KEPT,
        "availabilityZone": "us-east-1b",
        "size": 100,
        "encrypted": True,
        "tags": {"Name": "camphub-homes", "camphub:stack": "test", BACKUP_TAG: "test-0badc0de"},
        "state": "available",
        "attachedTo": None,  # the tags of the machine it is attached to
    }
    return {**volume, **changes}


class KeptVolumeMocks(ZoneMocks):
    """EC2 with one kept volume (None: none), answering the look-ups as AWS would."""

    def __init__(self, volume: dict | None, running_on: tuple[str, ...] = ()):
        super().__init__(SUBNETS, everywhere(EVERY_TYPE))
        self.volume = volume
        self.running_on = running_on  # this stack's homes volumes that a machine holds

    def call(self, args):
        filters = {f["name"]: f["values"] for f in args.args.get("filters") or []}
        if args.token == "aws:ebs/getEbsVolumes:getEbsVolumes":
            if "tag:camphub:stack" in filters:
                return {"ids": self._in_use_of_the_stack(filters)}
            return {"ids": [KEPT] if self._matches(filters) else []}
        if args.token == "aws:ebs/getVolume:getVolume":
            assert self._matches(filters), "get_volume is asked only for a volume that exists"
            return {k: v for k, v in self.volume.items() if k not in ("state", "attachedTo")}
        if args.token == "aws:ec2/getInstances:getInstances":
            return {"ids": ["i-0123456789abcdef0"] if self._attached_to(args, filters) else []}
        return super().call(args)

    def _in_use_of_the_stack(self, filters: dict) -> list[str]:
        assert filters == {
            "tag:Name": ["camphub-homes"],
            "tag:camphub:stack": ["test"],
            "status": ["in-use"],
        }
        kept = self.volume and self.volume["state"] == "in-use"
        return [*self.running_on, *([KEPT] if kept else [])]

    def _matches(self, filters: dict) -> bool:
        if self.volume is None or filters.get("volume-id") != [KEPT]:
            return False
        return self.volume["state"] in filters.get("status", [self.volume["state"]])

    def _attached_to(self, args, filters: dict) -> bool:
        machine = self.volume and self.volume["attachedTo"]
        wanted = args.args.get("instanceTags") or {}
        return (
            filters.get("block-device-mapping.volume-id") == [KEPT]
            and machine is not None
            and all(machine.get(k) == v for k, v in wanted.items())
        )


def adopting(base_config, volume, **settings):
    config = {**base_config, "nfs": {"adoptHomesVolume": KEPT}, **settings}
    return deploy(config, mocks=KeptVolumeMocks(volume))


def refusal(base_config, volume, running_on=(), **settings) -> str:
    """The error the program stops with, and proof that nothing was declared before it."""
    recorded = []

    def monitor(mocks, deployment):
        recorded.append(deployment)
        return RecordingMonitor(mocks, deployment)

    config = {**base_config, "nfs": {"adoptHomesVolume": KEPT}, **settings}
    with pytest.raises(ConfigError) as error:
        deploy(config, mocks=KeptVolumeMocks(volume, running_on), monitor=monitor)
    assert [r.type for r in recorded[0].resources] == []
    return str(error.value)


def homes(deployment, type_: str) -> list:
    """The homes volume's resources of `type_` (the hub has a volume of its own)."""
    return [r for r in deployment.of_type(type_) if r.name.endswith("-homes")]


def test_the_kept_volume_is_attached_and_never_declared_as_the_programs(base_config):
    deployment = adopting(base_config, kept_volume())
    assert homes(deployment, VOLUME) == [], "a declared volume could be deleted by a destroy"
    (attachment,) = homes(deployment, ATTACHMENT)
    assert attachment.inputs["volumeId"] == KEPT
    assert attachment.inputs["instanceId"] == deployment.named("nfs").id
    export = deployment.named("nfs-export-homes").inputs["create"]
    assert f"--volume-id {KEPT}" in export
    assert deployment.outputs["homesVolumeId"] == KEPT
    assert KEPT in deployment.outputs["homesAdoptCommand"]


def test_the_camp_goes_to_the_kept_volumes_zone(base_config):
    deployment = adopting(base_config, kept_volume(availabilityZone="us-east-1b"))
    (subnet,) = deployment.of_type("aws:ec2/subnet:Subnet")
    assert subnet.inputs["availabilityZone"] == "us-east-1b"  # not the first zone
    subnets = {i.inputs["subnetId"] for i in deployment.of_type("aws:ec2/instance:Instance")}
    assert subnets == {subnet.id}


def test_the_kept_volume_is_backed_up_daily_by_a_tag_the_destroy_removes(base_config):
    deployment = adopting(base_config, kept_volume())
    (tag,) = deployment.of_type(TAG)
    assert tag.inputs["resourceId"] == KEPT and tag.inputs["key"] == BACKUP_TAG
    assert tag.inputs["value"] != kept_volume()["tags"][BACKUP_TAG], "this camp's own value"
    (policy,) = deployment.of_type("aws:dlm/lifecyclePolicy:LifecyclePolicy")
    assert policy.inputs["policyDetails"]["targetTags"] == {BACKUP_TAG: tag.inputs["value"]}


def test_a_second_up_accepts_the_volume_its_own_nfs_server_holds(base_config):
    attached = kept_volume(state="in-use", attachedTo={"camphub:role": "nfs"})
    (attachment,) = homes(adopting(base_config, attached), ATTACHMENT)
    assert attachment.inputs["volumeId"] == KEPT


def test_a_volume_id_of_the_wrong_form_is_refused(base_config):
    message = refusal(base_config, kept_volume(), nfs={"adoptHomesVolume": "vol-xyz"})
    assert "camphub:nfs.adoptHomesVolume: 'vol-xyz' is not an EBS volume id" in message


def test_a_volume_that_does_not_exist_is_refused(base_config):
    message = refusal(base_config, None)
    assert f"camphub:nfs.adoptHomesVolume: there is no volume {KEPT}" in message
    assert "homesVolumeId" in message


def test_a_volume_not_tagged_as_camphub_homes_is_refused(base_config):
    message = refusal(base_config, kept_volume(tags={"Name": "database"}))
    assert f"{KEPT} is not a camphub homes volume (its Name tag is 'database'" in message


def test_an_unencrypted_volume_is_refused(base_config):
    message = refusal(base_config, kept_volume(encrypted=False))
    assert f"{KEPT} is not encrypted" in message


def test_a_volume_of_another_size_is_refused_with_the_setting_that_fits_it(base_config):
    message = refusal(base_config, kept_volume(size=250))
    assert "holds 250 GiB but camphub:nfs.volumeSizeGb is 100" in message
    assert "pulumi config set --path camphub:nfs.volumeSizeGb 250" in message


def test_a_volume_another_machine_holds_is_refused(base_config):
    message = refusal(base_config, kept_volume(state="in-use", attachedTo={"Name": "db"}))
    assert f"{KEPT} is attached to another machine" in message


def test_a_volume_another_stacks_nfs_server_holds_is_refused(base_config):
    theirs = kept_volume(
        state="in-use",
        attachedTo={"camphub:role": "nfs"},
        tags={"Name": "camphub-homes", "camphub:stack": "dev"},
    )
    assert f"{KEPT} is attached to another machine" in refusal(base_config, theirs)


def test_a_camp_that_runs_on_another_homes_volume_is_not_swapped_onto_this_one(base_config):
    message = refusal(base_config, kept_volume(), running_on=("vol-0ffffffffffffffff",))
    assert "this camp runs on its homes volume vol-0ffffffffffffffff" in message
    assert "`pulumi destroy` first" in message


def test_a_volume_not_yet_available_is_refused(base_config):
    message = refusal(base_config, kept_volume(state="creating"))
    assert f"{KEPT} is creating, deleting or in error, not available" in message


def test_a_camp_pinned_to_another_zone_is_refused(base_config):
    message = refusal(base_config, kept_volume(), availabilityZone="us-east-1a")
    assert "the volume is in us-east-1b, but camphub:availabilityZone pins" in message
    assert "pulumi config set camphub:availabilityZone us-east-1b" in message


def test_every_problem_of_a_volume_is_named_at_once(base_config):
    message = refusal(base_config, kept_volume(encrypted=False, size=8))
    assert "2 problems" in message


def test_without_the_setting_nothing_is_looked_up_and_a_new_volume_is_made(base_config):
    class NoLookUps(KeptVolumeMocks):
        def call(self, args):
            # But whether this stack's camp runs (infra/network_move.py): it does not.
            filters = {f["name"] for f in args.args.get("filters") or []}
            if "tag:camphub:stack" not in filters:
                assert "Volume" not in args.token and "Instances" not in args.token, args.token
            return super().call(args)

    deployment = deploy(base_config, mocks=NoLookUps(None))
    (volume,) = homes(deployment, VOLUME)
    assert volume.retain_on_delete
    assert deployment.outputs["homesVolumeId"] == volume.id
