"""Write-only secret inputs: a secret can be replaced or cleared, never shown back."""

from __future__ import annotations

from django import forms


class SecretInput(forms.PasswordInput):
    """A password box that never renders the stored value."""

    def __init__(self, attrs=None):
        super().__init__(
            attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False
        )


class WriteOnlySecretsForm(forms.ModelForm):
    """A ModelForm whose ``secret_fields`` keep their stored value when left blank.

    Each secret gets a "clear" checkbox, since a blank box means "unchanged".
    """

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            if name not in self.fields:
                continue
            is_set = bool(self.instance.pk and getattr(self.instance, name))
            field = self.fields[name]
            field.widget = SecretInput()
            field.required = False
            field.help_text = (
                "Set. Leave blank to keep it, or type a new value to replace it."
                if is_set
                else "Not set."
            )
            if is_set:
                self.fields[f"clear_{name}"] = forms.BooleanField(
                    required=False, label=f"Clear {field.label.lower()}"
                )

    def clean(self):
        cleaned = super().clean()
        for name in self.secret_fields:
            if name not in self.fields:
                continue
            if cleaned.get(f"clear_{name}"):
                cleaned[name] = ""
            elif not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(self.instance, name)
        return cleaned


def secret_status(value: str) -> str:
    return "set" if value else "not set"
