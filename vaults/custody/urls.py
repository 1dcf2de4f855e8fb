"""The custody pages, mounted at /vaults/ by the project's urls before the vault pages (whose ``<slug>/`` would
otherwise take ``proposals/``)."""

from django.urls import path

from vaults.custody import views

urlpatterns = [
    path("proposals/<int:proposal_id>/", views.proposal_detail, name="vault_proposal"),
    path("<slug:slug>/withdraw/", views.withdraw, name="vault_withdraw"),
]
