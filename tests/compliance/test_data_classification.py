from django.apps import apps

from compliance.data_classification import (
    MODEL_CLASSIFICATION,
    PROJECT_APPS,
    THIRD_PARTY_CLASSIFICATION,
    DataCategory,
    Erasure,
    classification_for,
)


def project_models() -> list[str]:
    return [
        model._meta.label
        for model in apps.get_models()
        if model._meta.app_label in PROJECT_APPS and not model._meta.auto_created
    ]


def test_every_project_model_is_classified_for_gdpr():
    unclassified = [label for label in project_models() if label not in MODEL_CLASSIFICATION]
    assert unclassified == []


def test_the_classification_names_only_models_that_exist():
    labels = {model._meta.label for model in apps.get_models(include_auto_created=True)}
    stale = set(MODEL_CLASSIFICATION) - labels
    assert stale == set()


def test_third_party_models_stored_in_our_databases_are_classified_too():
    unclassified = [
        model._meta.label
        for model in apps.get_models()
        if model._meta.app_label not in PROJECT_APPS
        and model._meta.label not in THIRD_PARTY_CLASSIFICATION
    ]
    assert unclassified == []


def test_secrets_are_never_exported_and_trades_are_kept_not_deleted():
    assert classification_for("accounts.ApiKey").exported is False
    assert classification_for("accounts.ApiKey").category is DataCategory.SECRET
    assert classification_for("trading.Trade").erasure is Erasure.ANONYMISE
    assert classification_for("trading.Trade").retention == "10 years"
