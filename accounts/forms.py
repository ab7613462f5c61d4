"""The operator console's sign-in form: email, password and, for an account with two-factor on,
a code; it signs in through accounts.security.sign_in (throttled, audited), whose refusals it
shows as form errors. Too many attempts raise LoginThrottled, which
accounts.middleware.SignInErrorsMiddleware answers with a 429."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from accounts.security.sign_in import InvalidCredentials, SignInRefused, sign_in
from compliance.audit import AuditContext


class AdminSignInForm(AdminAuthenticationForm):
    otp_code = forms.CharField(
        label="Two-factor code",
        required=False,
        max_length=64,
        help_text="From your authenticator app, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )

    def clean(self) -> dict:
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        code = (self.cleaned_data.get("otp_code") or "").strip()
        if email is None or not password:
            return self.cleaned_data
        # Six digits are a TOTP code; anything else is tried as a recovery code.
        is_totp = code.isdigit() and len(code) <= 8
        try:
            self.user_cache = sign_in(
                email=email,
                password=password,
                otp_code=code if is_totp else None,
                recovery_code=code if code and not is_totp else None,
                context=AuditContext.from_request(self.request, channel="admin"),
            )
        except InvalidCredentials as refusal:
            raise self.get_invalid_login_error() from refusal
        except SignInRefused as refusal:
            raise ValidationError(str(refusal), code=refusal.reason) from refusal
        self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data
