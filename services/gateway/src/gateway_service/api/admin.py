"""``/v1/admin``: staff administration of accounts, system settings and quota limits.

These are staff areas, not tenant resources: a role that does not work in one answers
``403 forbidden`` (auth.policy.STAFF_AREAS). Admins do everything; support reads accounts
and suspends or activates clients; billing reads accounts; clients nothing here.

- ``GET /v1/admin/users`` (``q``, ``role``, ``status``, ``page``, ``per_page``, ``sort`` by
  ``id``, ``name``, ``email`` or ``created``), ``GET /v1/admin/users/{id}``;
- ``POST /v1/admin/users/{id}/actions/{activate|suspend|ban}`` ``{"reason"}`` and
  ``POST /v1/admin/users/{id}/actions/erase`` (GDPR erasure, admins only);
- ``GET /v1/admin/settings``, ``GET`` and ``PUT /v1/admin/settings/{key}`` ``{"value"}``,
  the value typed as the setting is (boolean, integer, string, or any JSON document);
- ``PUT /v1/admin/quotas`` ``{"user_id" | "organization_id", "resource_type", "limit"}``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from cloudplatform.identity.v1 import admin_service_pb2 as apb
from cloudplatform.identity.v1 import identity_service_pb2 as pb
from cpshared.quotas import QuotaResourceType
from gateway_service.api.common import BodyId, Id, Meta, Text, page_meta, sort_param
from gateway_service.api.models.quotas import QuotaOut, quota_out
from gateway_service.auth.gate import Authenticated
from gateway_service.auth.policy import Access, Family
from gateway_service.auth.scoped import staff
from gateway_service.clients.backends import backends
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.pagination import parse_page_request
from hetzner_conventions.sorting import parse_sort

router = APIRouter(prefix="/v1/admin", tags=["admin"])

SORTABLE = ("id", "name", "email", "created")
ROLES = {
    "admin": pb.USER_ROLE_ADMIN,
    "client": pb.USER_ROLE_CLIENT,
    "support": pb.USER_ROLE_SUPPORT,
    "billing": pb.USER_ROLE_BILLING,
}
STATUSES = {
    "active": pb.USER_STATUS_ACTIVE,
    "suspended": pb.USER_STATUS_SUSPENDED,
    "pending": pb.USER_STATUS_PENDING,
    "banned": pb.USER_STATUS_BANNED,
}
ROLE_NAMES = {v: k for k, v in ROLES.items()}
STATUS_NAMES = {v: k for k, v in STATUSES.items()}
SETTING_TYPES = {
    pb.SETTING_TYPE_STRING: "string",
    pb.SETTING_TYPE_INTEGER: "integer",
    pb.SETTING_TYPE_BOOLEAN: "boolean",
    pb.SETTING_TYPE_JSON: "json",
}
ACTIONS: dict[str, pb.UserStatus.ValueType] = {
    "activate": pb.USER_STATUS_ACTIVE,
    "suspend": pb.USER_STATUS_SUSPENDED,
    "ban": pb.USER_STATUS_BANNED,
}


# -- answers ----------------------------------------------------------------------------------


class UserOut(BaseModel):
    id: int
    name: str
    email: str
    role: str
    status: str
    created: datetime | None
    email_verified_at: datetime | None = Field(description="When the email was verified; null when never.")
    last_login_at: datetime | None
    two_factor_enabled: bool
    deleted: bool = Field(description="Whether the account was erased (its personal data is gone).")
    deleted_at: datetime | None


class UserAnswer(BaseModel):
    user: UserOut


class UsersAnswer(BaseModel):
    users: list[UserOut]
    meta: Meta


class ErasedAnswer(BaseModel):
    user: UserOut
    sole_member_organization_ids: list[int] = Field(
        description="Organizations of which the account was the only member: left as they were, for staff to close."
    )


class SettingOut(BaseModel):
    key: str
    type: Literal["string", "integer", "boolean", "json"]
    value: JsonValue = Field(description="Typed as the setting is: a string, an integer, a boolean or a JSON document.")
    description: str
    updated: datetime | None


class SettingAnswer(BaseModel):
    setting: SettingOut


class SettingsAnswer(BaseModel):
    settings: list[SettingOut]


class QuotaAnswer(BaseModel):
    quota: QuotaOut


# -- requests ---------------------------------------------------------------------------------


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(default="", max_length=1000, description="Why, for the record.")


class NewSettingValue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: JsonValue = Field(description="The new value, of the setting's type.")


class NewQuotaLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: BodyId | None = None
    organization_id: BodyId | None = None
    resource_type: QuotaResourceType = Field(description="The resource the quota counts.")
    limit: int = Field(ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _one_owner(self) -> NewQuotaLimit:
        if (self.user_id is None) == (self.organization_id is None):
            raise ValueError("give exactly one of user_id and organization_id")
        return self


# -- conversions ------------------------------------------------------------------------------


def _time(stamp: Timestamp, present: bool) -> datetime | None:
    return stamp.ToDatetime(tzinfo=UTC) if present else None


def user_out(details: apb.UserDetails) -> UserOut:
    user = details.user
    return UserOut(
        id=user.id,
        name=user.name,
        email=user.email,
        role=ROLE_NAMES.get(user.role, "client"),
        status=STATUS_NAMES.get(user.status, "pending"),
        created=_time(user.created_at, user.HasField("created_at")),
        email_verified_at=_time(details.email_verified_at, details.HasField("email_verified_at")),
        last_login_at=_time(details.last_login_at, details.HasField("last_login_at")),
        two_factor_enabled=details.two_factor_enabled,
        deleted=details.deleted,
        deleted_at=_time(details.deleted_at, details.HasField("deleted_at")),
    )


def setting_out(setting: pb.Setting) -> SettingOut:
    kind = SETTING_TYPES.get(setting.type, "string")
    which = setting.WhichOneof("value")
    value: JsonValue = None
    if which == "json_value":
        value = json.loads(setting.json_value) if setting.json_value else None
    elif which is not None:
        value = getattr(setting, which)
    return SettingOut(
        key=setting.key,
        type=kind,  # type: ignore[arg-type]
        value=value,
        description=setting.description,
        updated=_time(setting.updated_at, setting.HasField("updated_at")),
    )


# -- users ------------------------------------------------------------------------------------


@router.get("/users")
@staff(Family.USERS, Access.READ)
async def search_users(
    request: Request,
    response: Response,
    principal: Authenticated,
    q: str = "",
    role: Literal["admin", "client", "support", "billing"] | None = None,
    status: Literal["active", "suspended", "pending", "banned"] | None = None,
    page: str | None = None,
    per_page: str | None = None,
    sort: Annotated[list[str] | None, Query()] = None,
) -> UsersAnswer:
    """Accounts whose email or name contains ``q``, of a role and status, one page of them."""
    page_request = parse_page_request(page, per_page)
    sort_keys = parse_sort(sort or [], SORTABLE)
    if len(q) > 255:
        raise invalid_field("q", "q must be at most 255 characters")
    answer = await backends(request).admin.search_users(
        apb.SearchUsersRequest(
            acting_user_id=principal.user_id,
            query=q,
            role=ROLES[role] if role else pb.USER_ROLE_UNSPECIFIED,
            status=STATUSES[status] if status else pb.USER_STATUS_UNSPECIFIED,
            page=page_request.page,
            per_page=page_request.per_page,
            sort=sort_param(sort_keys),
        )
    )
    meta = page_meta(request, response, page_request, answer.total_entries)
    return UsersAnswer(users=[user_out(u) for u in answer.users], meta=meta)


@router.get("/users/{user_id}")
@staff(Family.USERS, Access.READ)
async def get_user(request: Request, principal: Authenticated, user_id: Id) -> UserAnswer:
    """One account, as staff see it."""
    return UserAnswer(user=user_out(await backends(request).admin.get_user(principal.user_id, user_id)))


@router.post("/users/{user_id}/actions/erase", status_code=201)
@staff(Family.USERS, Access.WRITE, admin_only=True)
async def erase_user(request: Request, principal: Authenticated, user_id: Id) -> ErasedAnswer:
    """Erase an account's personal data on its holder's request (admins only); its id stays."""
    answer = await backends(request).admin.erase_user(principal.user_id, user_id)
    return ErasedAnswer(
        user=user_out(answer.user), sole_member_organization_ids=list(answer.sole_member_organization_ids)
    )


@router.post("/users/{user_id}/actions/{action}", status_code=201)
@staff(Family.USERS, Access.WRITE, admin_only=lambda arguments: arguments["action"] == "ban")
async def change_user_status(
    request: Request,
    principal: Authenticated,
    user_id: Id,
    action: Literal["activate", "suspend", "ban"],
    body: StatusChange | None = None,
) -> UserAnswer:
    """Activate, suspend or ban an account (support: activate or suspend clients)."""
    details = await backends(request).admin.set_user_status(
        principal.user_id, user_id, ACTIONS[action], body.reason if body else ""
    )
    return UserAnswer(user=user_out(details))


# -- settings ---------------------------------------------------------------------------------


@router.get("/settings")
@staff(Family.SETTINGS, Access.READ)
async def list_settings(request: Request, principal: Authenticated) -> SettingsAnswer:
    """Every system setting with its typed value (admins only)."""
    settings = await backends(request).admin.list_settings(principal.user_id)
    return SettingsAnswer(settings=[setting_out(s) for s in settings])


@router.get("/settings/{key}")
@staff(Family.SETTINGS, Access.READ)
async def get_setting(request: Request, principal: Authenticated, key: str) -> SettingAnswer:
    """One system setting (admins only)."""
    return SettingAnswer(setting=setting_out(await backends(request).admin.get_setting(key)))


def _typed(setting: pb.Setting, value: JsonValue) -> pb.SetSettingRequest:
    """The SetSetting request for ``value``, refused unless it is of the setting's type."""
    kind = SETTING_TYPES.get(setting.type, "string")
    request = pb.SetSettingRequest(key=setting.key)
    if kind == "boolean" and type(value) is bool:
        request.boolean_value = value
    elif kind == "integer" and type(value) is int:
        request.integer_value = value
    elif kind == "string" and type(value) is str:
        request.string_value = value
    elif kind == "json":
        request.json_value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    else:
        raise invalid_field("value", f"{setting.key} is a {kind} setting: send a {kind} value")
    return request


@router.put("/settings/{key}")
@staff(Family.SETTINGS, Access.WRITE)
async def set_setting(request: Request, principal: Authenticated, key: str, body: NewSettingValue) -> SettingAnswer:
    """Change a system setting (admins only); the value must be of the setting's type."""
    client = backends(request).admin
    setting = await client.get_setting(key)
    return SettingAnswer(setting=setting_out(await client.set_setting(_typed(setting, body.value))))


# -- quotas -----------------------------------------------------------------------------------


@router.put("/quotas")
@staff(Family.QUOTAS, Access.WRITE)
async def set_quota_limit(request: Request, principal: Authenticated, body: NewQuotaLimit) -> QuotaAnswer:
    """Set the limit of a user's or organization's quota of one resource type (admins only)."""
    call = apb.SetQuotaLimitRequest(
        acting_user_id=principal.user_id, resource_type=body.resource_type.value, quota_limit=body.limit
    )
    if body.user_id is not None:
        call.user_id = body.user_id
    else:
        call.organization_id = body.organization_id or 0
    return QuotaAnswer(quota=quota_out(await backends(request).admin.set_quota_limit(call)))
