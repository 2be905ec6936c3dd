"""What a camp week costs: instances, EBS and the public address, from a dated price table.

On-demand Linux prices in USD from AWS's public price list, as of the date in the table; taxes,
data transfer and snapshots are not included. A region or instance type missing from the table
is named in the estimate instead of being guessed.
"""

from dataclasses import dataclass

from infra.config import CampConfig
from infra.hub import HUB_VOLUME_GB
from infra.machine import ROOT_VOLUME_GB

HOURS_PER_WEEK = 7 * 24
HOURS_PER_MONTH = 730  # AWS bills EBS per GB-month of 730 hours

PRICES = {
    "us-east-1": {
        "as_of": "2025-06-01",
        "gp3_gb_month": 0.08,
        "public_ipv4_hour": 0.005,
        "instance_hour": {
            "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416, "t3.large": 0.0832,
            "t3.xlarge": 0.1664, "t3.2xlarge": 0.3328,
            "t3a.micro": 0.0094, "t3a.small": 0.0188, "t3a.medium": 0.0376, "t3a.large": 0.0752,
            "t3a.xlarge": 0.1504, "t3a.2xlarge": 0.3008,
            "m6i.large": 0.096, "m6i.xlarge": 0.192, "m6i.2xlarge": 0.384, "m6i.4xlarge": 0.768,
            "m6i.8xlarge": 1.536,
            "m7i.large": 0.1008, "m7i.xlarge": 0.2016, "m7i.2xlarge": 0.4032,
            "m7i.4xlarge": 0.8064, "m7i.8xlarge": 1.6128,
            "c6i.large": 0.085, "c6i.xlarge": 0.17, "c6i.2xlarge": 0.34, "c6i.4xlarge": 0.68,
            "r6i.large": 0.126, "r6i.xlarge": 0.252, "r6i.2xlarge": 0.504, "r6i.4xlarge": 1.008,
        },
    },
}  # fmt: skip


@dataclass(frozen=True)
class WeeklyCost:
    region: str
    prices_as_of: str | None
    lines: dict[str, float]  # what each part costs for the week, USD
    unpriced: tuple[str, ...]  # parts the table has no price for
    students: int

    @property
    def total(self) -> float:
        return round(sum(self.lines.values()), 2)

    @property
    def per_student(self) -> float:
        return round(self.total / self.students, 2) if self.students else 0.0

    def as_output(self) -> dict:
        return {
            "region": self.region,
            "pricesAsOf": self.prices_as_of,
            "totalUsd": self.total,
            "perStudentUsd": self.per_student,
            "linesUsd": {k: round(v, 2) for k, v in self.lines.items()},
            "notPriced": list(self.unpriced),
        }


def weekly_cost(config: CampConfig, region: str) -> WeeklyCost:
    table = PRICES.get(region)
    students = len(config.class_list.members)
    if table is None:
        return WeeklyCost(region, None, {}, (f"every part: no price table for {region}",), students)
    # Per role (as infra.machine names them): how many machines, of which instance type.
    machines = {
        "hub": (1, config.hub.instance_type),
        "worker": (config.workers.count, config.workers.instance_type),
        "nfs": (1, config.nfs.instance_type),
    }
    lines: dict[str, float] = {}
    unpriced = []
    volume_gb = config.nfs.volume_size_gb + HUB_VOLUME_GB
    for role, (count, instance_type) in machines.items():
        hourly = table["instance_hour"].get(instance_type)
        if hourly is None:
            unpriced.append(f"{role} instances ({instance_type})")
        else:
            lines[f"{role} instances"] = count * hourly * HOURS_PER_WEEK
        volume_gb += count * ROOT_VOLUME_GB[role]
    lines["EBS volumes"] = volume_gb * table["gp3_gb_month"] * HOURS_PER_WEEK / HOURS_PER_MONTH
    # The hub's Elastic IP, and the address the default subnet gives each other machine for its
    # way out (packages, images); their security groups take nothing in from the internet.
    addresses = 1 + config.workers.count + 1
    lines["public IPv4 addresses"] = addresses * table["public_ipv4_hour"] * HOURS_PER_WEEK
    return WeeklyCost(region, table["as_of"], lines, tuple(unpriced), students)
