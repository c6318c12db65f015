"""Who hears of the alarms: a stack must not deploy alarms that reach nobody without saying so.

An empty alarmEmail deploys (a topic with no subscriber) but preview warns; an address at a domain
reserved for documentation (example.com, RFC 2606), the placeholder Pulumi.prod.yaml ships, is refused
until it is changed. tools/preflight.py reports the same verdict before `pulumi up`.
"""

from __future__ import annotations

from components.settings import ConfigError, StackSettings

# RFC 2606/6761 names that can never receive mail: a placeholder, not a subscriber.
PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net", "example", "invalid", "test", "localhost")


def is_placeholder(address: str) -> bool:
    domain = address.rpartition("@")[2].lower().rstrip(".")
    return any(domain == d or domain.endswith("." + d) for d in PLACEHOLDER_DOMAINS)


def no_subscriber_warning(settings: StackSettings, stack: str) -> str | None:
    """The warning for a stack whose alarms reach nobody; None when someone hears of them.
    ConfigError when the subscriber is still a placeholder."""
    address = settings.alarm_email
    if address and is_placeholder(address):
        raise ConfigError(
            f"alarmEmail: {address!r} is a placeholder (a documentation domain receives no mail); set the "
            f"address that should hear of the alarms: pulumi config set alarmEmail you@yourdomain -s {stack}"
        )
    if address:
        return None
    return (
        f"alarmEmail is not set: stack {stack}'s alarms notify an SNS topic nobody subscribes to. Set one with "
        f"`pulumi config set alarmEmail you@yourdomain -s {stack}` (AWS mails a confirmation link first)."
    )
