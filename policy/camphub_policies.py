"""infra/policy_rules.py's rules as pulumi-policy resource validations."""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, ResourceValidationPolicy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.policy_rules import RULES, Rule


def as_validation(rule: Rule) -> ResourceValidationPolicy:
    def validate(args, report_violation):
        for message in rule.check(args.resource_type, args.props):
            report_violation(message)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate,
    )


POLICIES = [as_validation(rule) for rule in RULES]
