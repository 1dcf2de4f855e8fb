from django.urls import path

from vaults.custody import api

urlpatterns = [
    path("custody/withdrawals/", api.CustodyWithdrawalCreateApi.as_view(), name="custody-withdrawal-create"),
    path(
        "custody/withdrawals/<int:withdrawal_id>/proposals/",
        api.CustodyWithdrawalProposeApi.as_view(),
        name="custody-withdrawal-propose",
    ),
    path("custody/proposals/", api.ProposalListApi.as_view(), name="custody-proposals"),
    path("custody/proposals/<int:proposal_id>/", api.ProposalDetailApi.as_view(), name="custody-proposal"),
    path(
        "custody/proposals/<int:proposal_id>/signatures/",
        api.DepositorSignatureApi.as_view(),
        name="custody-depositor-signature",
    ),
    path("custody/proposals/<int:proposal_id>/cancel/", api.ProposalCancelApi.as_view(), name="custody-cancel"),
    path("custody/proposals/<int:proposal_id>/approvals/", api.OperatorApprovalApi.as_view(), name="custody-approval"),
    path(
        "custody/proposals/<int:proposal_id>/owner-signatures/",
        api.OwnerSignatureApi.as_view(),
        name="custody-owner-signature",
    ),
    path(
        "custody/manual-credits/<int:credit_id>/decision/",
        api.ManualCreditDecisionApi.as_view(),
        name="custody-manual-credit-decision",
    ),
    path("custody/destinations/", api.DestinationListCreateApi.as_view(), name="custody-destinations"),
    path(
        "custody/destinations/typed-data/", api.DestinationTypedDataApi.as_view(), name="custody-destination-typed-data"
    ),
]
