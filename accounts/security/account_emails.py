"""Sending the account emails (verification links, password resets) through Django's email
backend. A mail server that is down does not undo or fail what the request did (the account
exists; a new link can be asked for): the failure is logged."""

import logging
import smtplib

from django.core.mail import send_mail

logger = logging.getLogger(__name__)


def send_account_email(*, to: str, subject: str, body: str) -> bool:
    """Whether the email was handed to the backend."""
    try:
        send_mail(subject=subject, message=body, from_email=None, recipient_list=[to])
    except (smtplib.SMTPException, OSError):
        logger.exception("The %r email to an account could not be sent.", subject)
        return False
    return True
