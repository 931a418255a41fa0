"""Users, API keys and sign-in sessions of the fake Papra (a mixin of ``FakeState``)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

from papra_pipeline.testing.common import DAY_MS, PapraError
from papra_pipeline.testing.models import ApiKey, Session, User

SESSION_TTL_MS = 7 * DAY_MS


def hash_token(token: str) -> str:
    """Papra stores sha256(token) as base64url."""
    digest = hashlib.sha256(token.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class AccountState:
    """Users, API keys and sessions: the ``FakeState`` methods for them."""

    def create_user(self, name: str, email: str, password: str) -> dict:
        with self.lock:
            user = User(self.ids.new("usr"), self.now(), email, name, password)
            self.users[user.id] = user
            return user.to_api()

    def create_api_key(
        self, permissions: Iterable[str], *, name: str = "api key", user_id: str | None = None
    ) -> str:
        """Create a key for a user (default: the default user) and return its token."""
        with self.lock:
            return self._create_api_key(list(permissions), name, self._user(user_id))[1]

    def _create_api_key(
        self, permissions: list[str], name: str, user_id: str
    ) -> tuple[ApiKey, str]:
        token = "ppapi_" + self.ids.token(64)
        key = ApiKey(
            self.ids.new("ak"),
            self.now(),
            name,
            hash_token(token),
            token[:11],
            user_id,
            permissions,
        )
        self.api_keys[key.key_hash] = key
        return key, token

    def api_key_for_token(self, token: str) -> ApiKey | None:
        return self.api_keys.get(hash_token(token))

    def delete_api_key(self, key_id: str, *, user_id: str | None = None) -> None:
        with self.lock:
            for key_hash, key in list(self.api_keys.items()):
                if key.id == key_id and key.user_id == self._user(user_id):
                    del self.api_keys[key_hash]

    def sign_in(self, email: str, password: str, user_agent: str = "") -> tuple[User, Session]:
        with self.lock:
            user = next((u for u in self.users.values() if u.email == email), None)
            if user is None or user.password != password:
                raise PapraError(
                    401, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password", wrapped=False
                )
            now = self.now()
            session = Session(
                self.ids.new("auth_ses"),
                self.ids.token(32),
                user.id,
                now,
                now + SESSION_TTL_MS,
                user_agent,
            )
            self.sessions[session.token] = session
            return user, session

    def expire_sessions(self) -> None:
        """Invalidate every session so session clients must sign in again."""
        with self.lock:
            self.sessions.clear()
