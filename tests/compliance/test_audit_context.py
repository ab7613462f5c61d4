from django.test import RequestFactory, override_settings

from compliance.audit import AuditContext


def request_from(remote: str, forwarded: str | None = None):
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_USER_AGENT="pytest", **headers)


def test_the_address_is_the_peer_unless_a_proxy_of_ours_is_trusted():
    context = AuditContext.from_request(request_from("198.51.100.7", "203.0.113.1"))
    assert context.ip_address == "198.51.100.7"
    assert context.user_agent == "pytest"
    assert context.channel == "api"


@override_settings(AUDIT_TRUST_X_FORWARDED_FOR=True)
def test_behind_a_trusted_proxy_the_first_forwarded_address_is_the_client():
    context = AuditContext.from_request(request_from("10.0.0.2", "203.0.113.1, 10.0.0.1"))
    assert context.ip_address == "203.0.113.1"


def test_a_system_action_has_no_request_facts():
    context = AuditContext.system("seed_demo")
    assert (context.ip_address, context.user_agent, context.channel) == (None, None, "seed_demo")


@override_settings(AUDIT_TRUST_X_FORWARDED_FOR=True)
def test_a_forwarded_value_that_is_no_address_falls_back_to_the_peer():
    for forwarded in ("999.1.1.1", "not-an-ip", "unknown, 10.0.0.1"):
        assert AuditContext.from_request(request_from("10.0.0.2", forwarded)).ip_address == (
            "10.0.0.2"
        )


def test_a_peer_that_is_no_address_is_recorded_as_none():
    # (a unix socket or a test client can leave REMOTE_ADDR empty or odd)
    assert AuditContext.from_request(request_from("")).ip_address is None
    assert AuditContext.from_request(request_from("localhost")).ip_address is None


def test_a_nul_in_the_user_agent_is_dropped():
    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="a\x00b")
    assert AuditContext.from_request(request).user_agent == "ab"
