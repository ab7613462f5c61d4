"""Who did what, from where: the context every audited service call carries."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AuditContext:
    """The request-side facts of an action. Services take one as `context=`; commands and tasks
    that act on their own behalf pass `AuditContext.system(reason)`."""

    ip_address: str | None = None
    user_agent: str | None = None
    channel: str = "service"

    @classmethod
    def from_request(cls, request: Any, *, channel: str = "api") -> "AuditContext":
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        ip = forwarded.split(",")[0].strip() if forwarded else request.META.get("REMOTE_ADDR")
        return cls(
            ip_address=ip or None, user_agent=request.META.get("HTTP_USER_AGENT"), channel=channel
        )

    @classmethod
    def system(cls, channel: str) -> "AuditContext":
        return cls(channel=channel)
