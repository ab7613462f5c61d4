"""Who did what, from where: the context every audited service call carries."""

import ipaddress
from dataclasses import dataclass
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class AuditContext:
    """The request-side facts of an action. Services take one as `context=`; commands and tasks
    that act on their own behalf pass `AuditContext.system(reason)`."""

    ip_address: str | None = None
    user_agent: str | None = None
    channel: str = "service"

    @classmethod
    def from_request(cls, request: Any, *, channel: str = "api") -> "AuditContext":
        """X-Forwarded-For is believed only when settings say a proxy of ours sets it
        (AUDIT_TRUST_X_FORWARDED_FOR); otherwise any client could write its own address."""
        ip = _address(request.META.get("REMOTE_ADDR"))
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded and settings.AUDIT_TRUST_X_FORWARDED_FOR:
            # Not an address (a misconfigured proxy, or a client's own header passed on): keep
            # the connection's address rather than fail the action.
            ip = _address(forwarded.split(",")[0]) or ip
        return cls(
            ip_address=ip,
            # PostgreSQL text cannot hold NUL; a client can send one.
            user_agent=request.META.get("HTTP_USER_AGENT", "").replace("\x00", "") or None,
            channel=channel,
        )

    @classmethod
    def system(cls, channel: str) -> "AuditContext":
        return cls(channel=channel)


def _address(value: str | None) -> str | None:
    """`value` as an IP address for the inet column, or None when it is not one."""
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None
