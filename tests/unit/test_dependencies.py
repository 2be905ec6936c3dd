"""Bootstrap order: every step waits for what it really needs, and nothing more is assumed."""

from infra import layout

COMMAND = "command:remote:Command"
# The waits for a new machine (its sshd, its cloud-init), which every later step follows.
FIRST_CONTACTS = ("-sshd", "-cloud-init")


def step(deployment, suffix):
    matches = [c for c in deployment.of_type(COMMAND) if c.name.endswith(suffix)]
    assert matches, f"no step named *{suffix}"
    return matches


def test_every_command_waits_for_cloud_init_on_its_machine(deployment):
    for command in deployment.of_type(COMMAND) + deployment.of_type("command:remote:CopyToRemote"):
        if command.name.endswith(FIRST_CONTACTS):
            continue
        machine = command.name.split("-")[0]
        if machine == "workers":
            machine = "-".join(command.name.split("-")[:2])
        boot = deployment.named(f"{machine}-cloud-init")
        assert deployment.depends_on(command, boot), f"{command.name} may run before boot"


def test_cloud_init_waits_for_its_instance(deployment):
    for boot in step(deployment, "-cloud-init"):
        instance = deployment.named(boot.name.removesuffix("-cloud-init"))
        assert deployment.depends_on(boot, instance)


def test_workers_and_nfs_are_reached_once_the_jump_hosts_sshd_answers(deployment):
    hub_sshd, hub_boot = deployment.named("hub-sshd"), deployment.named("hub-cloud-init")
    assert deployment.depends_on(hub_sshd, deployment.named("hub"))
    for boot in step(deployment, "-cloud-init"):
        if boot.name != "hub-cloud-init":
            assert deployment.depends_on(boot, hub_sshd), boot.name
            # Not the hub's whole boot: its packages are none of their business.
            assert not deployment.depends_on(boot, hub_boot), boot.name


def test_joins_wait_for_swarm_init(deployment):
    init = deployment.named("hub-swarm-init")
    for join in step(deployment, "-swarm-join"):
        assert deployment.depends_on(join, init), join.name


def test_mounts_wait_for_the_export(deployment):
    export = deployment.named("nfs-export-homes")
    mounts = step(deployment, "-mount-homes")
    assert len(mounts) == 3  # the hub and both workers
    for mount in mounts:
        assert deployment.depends_on(mount, export), mount.name


def test_the_export_waits_for_the_volume_attachment(deployment):
    attachment = deployment.named("nfs-homes", "aws:ec2/volumeAttachment:VolumeAttachment")
    assert deployment.depends_on(deployment.named("nfs-export-homes"), attachment)


def test_the_hub_starts_after_secrets_mounts_image_and_workers(deployment):
    start = deployment.named("hub-start-hub")
    for needed in ("hub-install-secrets", "hub-mount-homes", "hub-hub-image", "hub-swarm-init"):
        assert deployment.depends_on(start, deployment.named(needed)), needed
    for image in step(deployment, "-notebook-image"):
        assert deployment.depends_on(start, image), image.name


def test_nginx_and_the_hub_start_once_the_hubs_volume_is_mounted(deployment):
    mounted = deployment.named("hub-mount-state")
    for needed_by in ("hub-configure-nginx", "hub-start-hub"):
        assert deployment.depends_on(deployment.named(needed_by), mounted), needed_by
    configure = deployment.named("hub-configure-nginx").inputs["create"]
    assert f"--tls-dir {layout.HUB_TLS_DIR}" in configure
    start = deployment.named("hub-start-hub").inputs["create"]
    assert f"--state-dir {layout.HUB_STATE_DIR}" in start


def test_the_class_list_syncs_after_the_hub_started(deployment):
    sync = deployment.named("hub-sync-userlist")
    assert deployment.depends_on(sync, deployment.named("hub-start-hub"))


def test_students_sign_in_only_once_their_homes_are_made_with_the_materials(deployment):
    homes = deployment.named("nfs-make-homes")
    assert deployment.depends_on(deployment.named("hub-sync-userlist"), homes)
    assert deployment.depends_on(homes, deployment.named("nfs-publish-materials"))


def test_snapshots_are_scheduled_once_the_homes_are_exported(deployment):
    schedule = deployment.named("nfs-schedule-home-snapshots")
    assert deployment.depends_on(schedule, deployment.named("nfs-export-homes"))


def test_removing_a_worker_drains_it_before_its_instance_goes(deployment):
    for index in (0, 1):
        membership = deployment.named(f"hub-workers-{index}-membership")
        assert "swarm-remove-node" in membership.inputs["delete"]
        assert f"node-workers-{index}-swarm-join" in membership.inputs["delete"]
        # Pulumi deletes dependents first: the drain runs while the instance still exists.
        assert deployment.depends_on(membership, deployment.named(f"workers-{index}"))


def test_steps_rerun_in_place_rather_than_being_replaced(deployment):
    for command in deployment.of_type(COMMAND):
        if command.name.endswith(FIRST_CONTACTS):
            continue
        assert command.inputs["update"] == command.inputs["create"], command.name


def test_a_step_with_a_delete_action_is_triggered_only_by_what_that_action_removes(deployment):
    # A changed trigger replaces the step, and replacing it runs the old step's delete action:
    # a membership's removes its node, so a new node replaces it; the archive has no trigger.
    with_delete = {c.name: c for c in deployment.of_type(COMMAND) if c.inputs.get("delete")}
    assert with_delete.keys() >= {"hub-workers-0-membership", "nfs-archive-homes"}
    for name, command in with_delete.items():
        if name.endswith("-membership"):
            joined = name.removeprefix("hub-").replace("-membership", "-swarm-join")
            assert command.inputs["triggers"] == [f"node-{joined}"], name
        else:
            assert not command.inputs.get("triggers"), name


def test_a_worker_joins_only_once_it_can_serve_students(deployment):
    for index in (0, 1):
        join = deployment.named(f"workers-{index}-swarm-join")
        for needed in ("notebook-image", "mount-homes"):
            assert deployment.depends_on(join, deployment.named(f"workers-{index}-{needed}"))


def test_the_archive_tools_install_early_and_the_archive_step_only_checks_them(deployment):
    prepare = deployment.named("nfs-prepare-archive")
    archive = deployment.named("nfs-archive-homes")
    assert deployment.depends_on(archive, prepare)
    assert prepare.inputs["create"] == archive.inputs["create"]
    assert deployment.depends_on(prepare, deployment.named("nfs-export-homes"))
    # not held back by the hub or the workers' image builds, as the archive step is
    for held in ["hub-start-hub", *(s.name for s in step(deployment, "-notebook-image"))]:
        assert not deployment.depends_on(prepare, deployment.named(held)), held
