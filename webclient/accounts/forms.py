from django import forms


class PasswordLoginForm(forms.Form):
    homeserver = forms.CharField(required=False, max_length=500)
    username = forms.CharField(max_length=255)
    password = forms.CharField(max_length=1024, strip=False)


class TokenLoginForm(forms.Form):
    homeserver = forms.CharField(max_length=500)
    access_token = forms.CharField(max_length=4096)
