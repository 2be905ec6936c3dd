"""camphub's security rules as a pulumi-policy pack: `pulumi preview --policy-pack policy`.

The rules live in infra/policy_rules.py, where the unit tests also run them against every
resource the program declares under mocks; this pack runs the same rules on a real stack.
"""

from camphub_policies import POLICIES
from pulumi_policy import PolicyPack

PolicyPack(name="camphub-security", policies=POLICIES)
