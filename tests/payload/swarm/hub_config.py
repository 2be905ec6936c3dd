"""A JupyterHub with camphub's spawner on a one-node swarm, for test_spawner_on_a_swarm.py: the
hub image's own JupyterHub and spawner, the proxy image's proxy in a container of its own, the
notebook image, the overlay "camp"; a dummy sign-in and an admin service token in place of Google
and the class list. The test gives the images' tags and the proxy's API in the environment.
"""

import os

c = get_config()  # noqa: F821 (JupyterHub's namespace)

API_TOKEN = "swarm-test-token-0123456789abcdef"
NO_ROOM_STUDENT = "nina"

c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "camphub_spawner.CamphubSwarmSpawner"
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_url = "http://camphub-test-hub:8081"
c.JupyterHub.db_url = "sqlite:////tmp/jupyterhub.sqlite"
# The token comes from CONFIGPROXY_AUTH_TOKEN, JupyterHub's default source.
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = os.environ["PROXY_API_URL"]
c.JupyterHub.services = [{"name": "tester", "api_token": API_TOKEN}]
c.JupyterHub.load_roles = [{"name": "admin", "services": ["tester"]}]
spawner = c.SwarmSpawner
spawner.image = os.environ["NOTEBOOK_IMAGE"]
spawner.cmd = ["jupyterhub-singleuser"]
spawner.pull_policy = "skip"
spawner.network_name = "camp"
spawner.use_internal_ip = True
spawner.extra_endpoint_spec = {"mode": "dnsrr"}
spawner.mem_guarantee = "64M"
# Every 3 s, so a poll falls within the swarm's 5 s restart delay of a killed server.
spawner.poll_interval = 3


def no_room_for_one_student(spawner):
    if spawner.user.name == NO_ROOM_STUDENT:
        spawner.mem_guarantee = "900G"


spawner.pre_spawn_hook = no_room_for_one_student
