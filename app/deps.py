"""FastAPI dependency aliases shared by every router."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from app.db import get_session
from app.models import LOCAL_USER_ID


def current_user_id() -> int:
    # Until accounts arrive (users/roles issue), everything belongs to the seeded local user. Every
    # repository already filters by this id, so accounts only have to change this function.
    return LOCAL_USER_ID


SessionDep = Annotated[Session, Depends(get_session)]
CurrentUserId = Annotated[int, Depends(current_user_id)]
