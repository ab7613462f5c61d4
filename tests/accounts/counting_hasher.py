"""A password hasher that counts how often a password is hashed (checking one or making one),
for tests that show a refused sign-in reaches no hasher. Same algorithm name as Django's MD5
hasher, which the test settings use, so the factories' hashes verify with it."""

import threading

from django.contrib.auth.hashers import MD5PasswordHasher


class CountingHasher(MD5PasswordHasher):
    calls = 0
    _lock = threading.Lock()

    @classmethod
    def count(cls) -> None:
        with cls._lock:
            cls.calls += 1

    def encode(self, password: str, salt: str) -> str:
        # verify() hashes through encode() too: one count per password hashed.
        self.count()
        return super().encode(password, salt)


HASHER = "tests.accounts.counting_hasher.CountingHasher"
