"""Write-only secret inputs: a secret can be replaced or cleared, never shown back."""

from __future__ import annotations

from django import forms


class SecretInput(forms.PasswordInput):
    """A password box that never renders the stored value."""

    def __init__(self, attrs=None):
        super().__init__(
            attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False
        )


#: Beside a secret typed into a form that is shown again after an error: its box is empty.
ENTER_AGAIN = (
    "Not saved: enter it again. The page was shown again because of an error, and Linx "
    "never sends a secret back to the browser."
)


class WriteOnlySecretsForm(forms.ModelForm):
    """A ModelForm whose ``secret_fields`` keep their stored value when left blank.

    Each secret gets a "clear" checkbox, since a blank box means "unchanged".
    """

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # What is stored, before validation copies what was typed onto the instance.
        self.stored_secrets = {
            name: getattr(self.instance, name) for name in self.secret_fields if name in self.fields
        }
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

    def shown_again(self) -> None:
        """Prepare a form shown again after an error (its secret boxes come back empty).

        The instance goes back to the stored secrets, so the page says "set" only of a
        secret that is set; a secret that was typed is named, to be entered again.
        """
        for name, stored in self.stored_secrets.items():
            setattr(self.instance, name, stored)
            if self.is_bound and self.data.get(name) and hasattr(self, "cleaned_data"):
                self.add_error(name, ENTER_AGAIN)


def secret_status(value: str) -> str:
    return "set" if value else "not set"
