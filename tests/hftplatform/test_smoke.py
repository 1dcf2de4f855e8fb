import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_home_renders_sign_up_link_for_anonymous_visitors(client) -> None:
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert reverse("account_signup").encode() in response.content
