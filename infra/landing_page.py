"""LandingPage: what the camp's address shows, at LANDING_PAGE_PATH on the hub's nginx.

The organizer's own pages (camphub:siteDir, checked by infra/config.py before anything is
created) are delivered to the hub with its payload; without them, the page of landing_page.html
names the camp (camp.name), its days and the way to sign in. The hub's nginx serves either,
read-only, beside the hub (nginx/camphub.conf.template); publish-site swaps a new version in at
once, so a changed folder or name reaches students with the next `pulumi up` and nothing
restarts. The pages share the hub's origin: they are the organizer's, as trusted as the hub.
"""

import html
import string
from dataclasses import dataclass
from pathlib import Path

import pulumi

from infra import layout
from infra.config import CampConfig, CampSpec
from infra.payload import PayloadTree, site_payload
from infra.remote import Step, StepTarget, run_step, script_line

DEFAULT_PAGE_TEMPLATE = Path(__file__).with_name("landing_page.html")
SIGN_IN_PATH = "/hub/login"


@dataclass(frozen=True)
class LandingPageArgs:
    config: CampConfig
    hub: StepTarget  # the hub machine: its nginx serves the pages
    hub_url: pulumi.Input[str]


def default_page(camp: CampSpec) -> str:
    """landing_page.html filled in for `camp`."""
    days = ""
    if camp.first_day and camp.last_day:
        days = f'<p class="days">{_day(camp.first_day)} to {_day(camp.last_day)}</p>'
    return string.Template(DEFAULT_PAGE_TEMPLATE.read_text()).substitute(
        camp_name=html.escape(camp.name), camp_days=days, sign_in_path=SIGN_IN_PATH
    )


def _day(day) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def organizer_pages(config: CampConfig) -> tuple[PayloadTree, ...]:
    """The hub's payload of landing pages: the organizer's folder, if any."""
    return (site_payload(config.site_dir),) if config.site_dir else ()


class LandingPage(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(
        self, name: str, args: LandingPageArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("camphub:index:LandingPage", name, None, opts)
        published = ["--dir", layout.LANDING_PAGES_DIR]
        if args.config.site_dir:
            pages = site_payload(args.config.site_dir)
            step = Step(
                "publish-site",
                script_line("publish-site", *published, "--from", pages.remote_dir),
                # The command line stays the same when only the files change.
                triggers=[pages.content_hash()],
            )
        else:
            page = default_page(args.config.camp)
            step = Step(
                "publish-site",
                script_line("publish-site", *published, "--index-from-stdin"),
                stdin=page,
            )
        run_step(args.hub, step, parent=self)
        self.url = pulumi.Output.concat(
            pulumi.Output.from_input(args.hub_url).apply(lambda url: url.rstrip("/")),
            layout.LANDING_PAGE_PATH,
        )
        self.register_outputs({"url": self.url})
