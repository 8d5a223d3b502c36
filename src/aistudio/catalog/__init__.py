"""The model catalog: what each model is, what it asks for, and how Kie prices it."""

from aistudio.catalog.loader import Catalog, CatalogError, load_catalog
from aistudio.catalog.models import Category, Family, InputField, ModelSpec, PricingRule

__all__ = [
    "Catalog",
    "CatalogError",
    "Category",
    "Family",
    "InputField",
    "ModelSpec",
    "PricingRule",
    "load_catalog",
]
