"""NotebookImage: the students' image, built once on the hub and shipped to every worker.

The hub builds the image from its build context (tagged by the context's content hash, so an
unchanged context builds nothing), saves it as an archive that its nginx serves on the camp's
subnet, read only (`serve-images`, `publish-image`), and publishes the image's ID. Each worker
loads the archive and checks the ID (`fetch-image`, declared by the worker pool): every worker
runs the same image, a worker added mid-week loads it in seconds instead of building it for
minutes, and a changed Dockerfile or requirements file is built once and reaches every worker
in the same `pulumi up`.

Why archives over HTTP rather than a registry on the hub: a registry needs TLS, or an
`insecure-registries` entry in every worker's engine, and accepts pushes from whoever reaches it
unless an authenticating proxy stands in front. An archive served read-only by the nginx the
hub already runs accepts no write at all, needs no engine setting, and carries the same proof
of content: `docker load` checks every layer against the image's configuration, whose digest is
the image ID the worker compares. What it gives up is a registry's layer sharing: a changed
image ships whole (about 0.9 GB, once per change, over the cluster's network).
"""

import re
from dataclasses import dataclass

import pulumi

from infra import layout
from infra.payload import NGINX, NOTEBOOK_IMAGE, build_image_arguments, image_tag
from infra.remote import Step, StepTarget, run_step, script_line

IMAGES_SITE_TEMPLATE = f"{NGINX.remote_dir}/camphub-images.conf.template"


@dataclass(frozen=True)
class NotebookImageArgs:
    builder: StepTarget  # the hub: builds the image and serves it
    builder_address: pulumi.Input[str]  # the hub's private address, where the workers fetch
    cluster_cidr: pulumi.Input[str]  # the camp's subnet: who may fetch


@dataclass(frozen=True)
class ShippedImage:
    """An image as a worker takes it: its tag, where its archive is, the ID a loaded copy must
    have, and the steps after which that archive is served."""

    tag: str
    url: pulumi.Output[str]
    image_id: pulumi.Output[str]
    published: list[pulumi.Resource]


def publication(report: str | None) -> tuple[str, str]:
    """The image ID and archive file name that publish-image printed; empty while it has printed
    nothing (a preview), which fetch-image refuses."""
    if not report:
        return "", ""
    match = re.fullmatch(r"(sha256:[0-9a-f]{64}) (\S+\.tar)\s*", report)
    if match is None:
        raise ValueError(f"publish-image printed {report!r}, not '<image ID> <archive>'")
    return match[1], match[2]


class NotebookImage(pulumi.ComponentResource):
    shipped: ShippedImage

    def __init__(
        self, name: str, args: NotebookImageArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("camphub:index:NotebookImage", name, None, opts)
        hub = args.builder
        tag = image_tag(NOTEBOOK_IMAGE)
        built = run_step(
            hub,
            Step(
                f"{NOTEBOOK_IMAGE.name}-image",
                script_line("build-image", *build_image_arguments(NOTEBOOK_IMAGE)),
            ),
            parent=self,
        )
        served = run_step(
            hub,
            Step(
                "serve-images",
                script_line(
                    "serve-images",
                    "--port",
                    str(layout.IMAGES_PORT),
                    "--allow",
                    args.cluster_cidr,
                    "--dir",
                    layout.IMAGES_DIR,
                    "--template",
                    IMAGES_SITE_TEMPLATE,
                ),
                # A changed site template is applied, not only delivered.
                triggers=[NGINX.content_hash()],
            ),
            parent=self,
        )
        published = run_step(
            hub,
            Step(
                f"publish-{NOTEBOOK_IMAGE.name}-image",
                script_line("publish-image", "--tag", tag, "--dir", layout.IMAGES_DIR),
                depends_on=[built, served],
            ),
            parent=self,
        )
        image_id = published.stdout.apply(lambda out: publication(out)[0])
        archive = published.stdout.apply(lambda out: publication(out)[1])
        self.shipped = ShippedImage(
            tag=tag,
            url=pulumi.Output.format(
                "http://{0}:{1}/{2}", args.builder_address, layout.IMAGES_PORT, archive
            ),
            image_id=image_id,
            published=[published],
        )
        self.register_outputs({"tag": tag, "imageId": image_id, "url": self.shipped.url})
