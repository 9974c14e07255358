"""Staff accounts, found by email address."""

from __future__ import annotations

from allauth.mfa import admin as allauth_mfa_admin
from allauth.mfa.models import Authenticator
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from linx.models import User


class StaffChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class StaffCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ["email"]


@admin.register(User)
class StaffAdmin(UserAdmin):
    form = StaffChangeForm
    add_form = StaffCreationForm
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active", "last_login"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Name", {"fields": ["first_name", "last_name"]}),
        (
            "Permissions",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {"classes": ["wide"], "fields": ["email", "usable_password", "password1", "password2"]},
        )
    ]


# allauth's page for an authenticator shows its `data`: the (encrypted) TOTP secret and
# recovery seed. Importing allauth's module above registered it; replace it by one that
# shows whose authenticator it is and when it was used, never the seed.
admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(allauth_mfa_admin.AuthenticatorAdmin):
    exclude = ["data"]
    readonly_fields = ["user", "type", "created_at", "last_used_at"]

    def has_add_permission(self, request) -> bool:
        return False  # a factor is set up by its owner, on the set-up page
