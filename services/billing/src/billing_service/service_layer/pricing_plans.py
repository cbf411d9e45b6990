"""Pricing plans: listed and read by everyone, created and revised by admins."""

from __future__ import annotations

from billing_service.domain.pricing_plans import PlanFields, PricingPlan, check_code, check_resource_type, check_terms
from billing_service.service_layer.ports import AbstractUnitOfWork
from cpshared.clock import utcnow


def list_plans(resource_type: str, include_inactive: bool, uow: AbstractUnitOfWork) -> list[PricingPlan]:
    if resource_type:
        check_resource_type(resource_type)
    with uow:
        return uow.pricing_plans.list(resource_type, include_inactive)


def get(plan_id: int, uow: AbstractUnitOfWork) -> PricingPlan:
    with uow:
        return uow.pricing_plans.get(plan_id)


def create(fields: PlanFields, uow: AbstractUnitOfWork) -> PricingPlan:
    """AlreadyExists if a plan has the code."""
    check_code(fields.code)
    plan = PricingPlan.create(fields.code, check_terms(fields), utcnow())
    with uow:
        uow.pricing_plans.add(plan)
        uow.commit()
    return plan


def update(plan_id: int, fields: PlanFields, uow: AbstractUnitOfWork) -> PricingPlan:
    terms = check_terms(fields)
    with uow:
        plan = uow.pricing_plans.get(plan_id, lock=True)
        plan.revise(fields.code, terms, utcnow())
        uow.commit()
    return plan
