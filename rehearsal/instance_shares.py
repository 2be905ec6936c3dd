"""What every instance of the local cloud shares, in place of what AWS serves the machines: a
directory shared read-only into each (the base image archives a registry would serve, the
volumes' device numbers, the NFS stand-in's exports, the ACME stand-in's trust files), and a
Debian package cache on the stack's network, kept between rehearsals.

A part of rehearsal.cloud.LocalCloud, which gives it the stack's names and shared directory.
"""

from pathlib import Path

from rehearsal import substitutions
from rehearsal.docker_cli import PREFIX, docker
from rehearsal.local_images import BASE_IMAGE, INSTANCE_IMAGE_DIR, ensure_local_image

APT_CACHE_PORT = 3142
APT_CACHE_VOLUME = f"{PREFIX}-apt-cache"


class InstanceShares:
    """One rehearsal stack's shared directory and package cache."""

    stack: str
    name: str
    shared_dir: Path

    def ensure_shared_dir(self, images: tuple[str, ...] = (BASE_IMAGE,)) -> None:
        """The directory shared read-only into every instance, with the base image archives."""
        for subdir in (
            substitutions.IMAGES_SUBDIR,
            substitutions.NFS_SUBDIR,
            substitutions.DEVICES_SUBDIR,
        ):
            (self.shared_dir / subdir).mkdir(parents=True, exist_ok=True)
        for image in images:
            self._ensure_image_archive(image)

    def _ensure_image_archive(self, image: str) -> None:
        image_id = docker("image", "inspect", "--format", "{{.Id}}", image).split(":")[-1][:12]
        safe_name = image.replace("/", "_").replace(":", "_")
        archive = self.shared_dir / substitutions.IMAGES_SUBDIR / f"{safe_name}-{image_id}.tar"
        if archive.exists():
            return
        for stale in archive.parent.glob(f"{safe_name}-*.tar"):
            stale.unlink()
        partial = archive.with_suffix(".partial")
        docker("image", "save", "--output", str(partial), image)
        partial.rename(archive)

    def ensure_apt_cache(self, instance_image: str) -> None:
        """A Debian package cache on the stack's network, kept between rehearsals.

        Instances use it when it answers (rehearsal-apt-proxy), so a warm `rehearse up` does
        not download again the packages that user-data installs.
        """
        container = f"{self.name}-apt-cache"
        state = docker(
            "container", "inspect", "--format", "{{.State.Running}}", container, check=False
        )
        if state == "true":
            return
        if state:
            docker("rm", "--force", container)
        image = self._ensure_apt_cache_image(instance_image)
        docker(
            "run",
            "--detach",
            "--name",
            container,
            "--network",
            self.name,
            "--network-alias",
            f"{PREFIX}-apt-cache",
            "--label",
            f"{PREFIX}.stack={self.stack}",
            "--volume",
            f"{APT_CACHE_VOLUME}:/var/cache/apt-cacher-ng",
            image,
        )

    def _ensure_apt_cache_image(self, instance_image: str) -> str:
        del instance_image
        return ensure_local_image(INSTANCE_IMAGE_DIR.parent / "apt-cache", f"{PREFIX}/apt-cache")
