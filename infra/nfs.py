"""NfsServer: the machine that holds every student's home, on its own encrypted EBS volume.

The homes volume outlives everything else: Pulumi never deletes it (not on `destroy`, not on a
replaced server), and the export step formats it only when it has no filesystem yet. A camp
brought back after `pulumi destroy` adopts the kept volume instead of making one
(infra/adoption.py).
"""

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import layout
from infra.adoption import HOMES_VOLUME_NAME, STACK_TAG, KeptVolume
from infra.backups import BACKUP_TAG, back_up_daily, homes_backup_tags
from infra.config import CampConfig
from infra.homes import ClassHomes, HomesServer, HomesShare, make_homes, schedule_snapshots
from infra.machine import JumpHost, MachineBasics, bring_up_behind, declare_machine
from infra.materials import materials_version, publish_course_files
from infra.payload import SCRIPTS, materials_payload
from infra.remote import Step, run_step, script_line, warn_about

# Where the volume is attached; Nitro instances show it as an NVMe device named by the volume
# id, which the export script finds by that id.
HOMES_DEVICE = "/dev/xvdf"


@dataclass(frozen=True)
class NfsServerArgs:
    basics: MachineBasics
    jump_host: JumpHost
    adopted: KeptVolume | None = None  # a kept homes volume to attach (infra/adoption.py)


class NfsServer(pulumi.ComponentResource):
    share: HomesShare  # for the machines that mount the homes
    server: HomesServer  # for work on the homes volume itself (infra/archive.py)
    private_ip: pulumi.Output[str]
    host_key: pulumi.Output[str]
    homes_volume_id: pulumi.Output[str]
    class_homes: ClassHomes  # for JupyterHub

    def __init__(self, name: str, args: NfsServerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("camphub:index:NfsServer", name, None, opts)
        basics = args.basics
        config, placement = basics.config, basics.placement
        # Its role reads the host key; infra/archive.py grants it the archive's permissions.
        machine = declare_machine(name, "nfs", basics, parent=self)
        instance = machine.instance
        self.host_key = machine.identity.public_host_key
        volume_id = self._homes_volume(name, args)
        attachment = aws.ec2.VolumeAttachment(
            f"{name}-homes",
            device_name=HOMES_DEVICE,
            volume_id=volume_id,
            instance_id=instance.id,
            # Unmount cleanly: stop the server before the volume is detached.
            stop_instance_before_detaching=True,
            # A volume is attached to one instance at a time: a new server gets it only once
            # the old one has let it go.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        self.private_ip = instance.private_ip
        self.homes_volume_id = volume_id
        target = bring_up_behind(
            name,
            machine,
            args.jump_host,
            basics.admin_key,
            payload=(SCRIPTS, materials_payload(config.materials_dir)),
            parent=self,
        )
        exported = run_step(
            target,
            Step(
                "export-homes",
                script_line(
                    "nfs-export",
                    "--volume-id",
                    volume_id,
                    "--export-dir",
                    layout.NFS_EXPORT_DIR,
                    "--client",
                    placement.subnet_cidr,
                ),
                depends_on=[attachment],
            ),
            parent=self,
        )
        warn_about(exported)
        self.share = HomesShare(self.private_ip, layout.NFS_EXPORT_DIR, exported)
        self.server = HomesServer(
            machine=target,
            volume_id=volume_id,
            in_place=[attachment, exported],
            role_id=machine.identity.role.id,
        )
        course_files = publish_course_files(target, config, after=exported, parent=self)
        homes_made = make_homes(
            target,
            config,
            materials_version(config),
            after=course_files,
            parent=self,
        )
        warn_about(homes_made)
        self.class_homes = ClassHomes(self.share, homes_made)
        schedule_snapshots(target, config, after=exported, parent=self)
        self.register_outputs(
            {
                "privateIp": self.private_ip,
                "hostKey": self.host_key,
                "homesVolumeId": volume_id,
                "exportDir": layout.NFS_EXPORT_DIR,
            }
        )

    def _homes_volume(self, name: str, args: NfsServerArgs) -> pulumi.Output[str]:
        """The homes volume's id: the adopted one's, or a new, empty volume's. Either is backed
        up daily when backups are on."""
        config = args.basics.config
        if args.adopted is not None:
            volume_id = pulumi.Output.from_input(args.adopted.id)
            backup_tag = self._tag_for_backups(name, args.adopted.id, config)
            back_up_daily(name, volume_id, backup_tag, config, parent=self)
            return volume_id
        tags = homes_backup_tags(name, config.stack, parent=self)
        volume = aws.ebs.Volume(
            f"{name}-homes",
            availability_zone=args.basics.placement.availability_zone,
            size=config.nfs.volume_size_gb,
            type="gp3",
            encrypted=True,
            tags={"Name": HOMES_VOLUME_NAME, STACK_TAG: config.stack, **tags},
            opts=pulumi.ResourceOptions(
                parent=self,
                # Students' work: `pulumi destroy` leaves the volume in the account (its id is a
                # stack output), and a moved subnet must not swap it for a new, empty one.
                retain_on_delete=True,
                ignore_changes=["availabilityZone"],
            ),
        )
        back_up_daily(name, volume.id, tags[BACKUP_TAG], config, parent=self)
        return volume.id

    def _tag_for_backups(self, name: str, volume_id: str, config: CampConfig) -> pulumi.Output[str]:
        """Gives the adopted volume this camp's backup tag, which its daily backups target. Only
        the tag is the program's: `pulumi destroy` removes it and keeps the volume."""
        value = homes_backup_tags(name, config.stack, parent=self)[BACKUP_TAG]
        tag = aws.ec2.Tag(
            f"{name}-adopted-homes-backup-tag",
            resource_id=volume_id,
            key=BACKUP_TAG,
            value=value,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return tag.value
