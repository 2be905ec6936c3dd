"""What the rehearsal's tests on real containers share."""

import pytest

from rehearsal import cloud


@pytest.fixture(scope="module")
def local_cloud(request, tmp_path_factory):
    """The module's own local cloud, named by the module's LOCAL_CLOUD: its networks and shared
    directory made; removed at the end with everything it holds (containers by their label)."""
    local = cloud.LocalCloud(request.module.LOCAL_CLOUD, tmp_path_factory.mktemp("local-cloud"))
    local.ensure_network()
    local.ensure_shared_dir(images=())
    yield local
    local.remove_all()
