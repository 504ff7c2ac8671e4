"""Text for Lab 05: a synthetic support-ticket corpus with canaries, and a tiny character-level model.

Everything is generated offline and deterministically: :func:`make_tickets` seeds its own
``faker.Faker`` instance, so the same ``seed`` gives the same tickets on every machine (for a
given Faker version; the course pins one). The model, :class:`CharModel`, predicts the next
character from a fixed window of previous characters (embedding + MLP), which keeps it tiny,
fast on 2 CPU cores, and made only of layers that Opacus can train with DP-SGD.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import faker
import torch
from faker import Faker
from torch import nn
from tqdm.auto import tqdm

from .checks import check_positive_int
from .data import DatasetIntegrityError, dataset_entry
from .device import seed_everything
from .env import quiet

PAD = "\x00"  # left padding before the first character of every text; never in a text itself
ALPHABET = PAD + string.ascii_letters + string.digits + " .,:;!?'@#-_/()+&<>\n"

_TEMPLATES = (
    "Ticket from {name} <{email}>: order {order} has not arrived at {city}.",
    "{name} ({email}) asks for a refund of order {order}.",
    "Order {order} for {name} was shipped to {street}, {city}.",
    "Customer {name} cannot log in; reset link sent to {email}.",
    "{name} reports order {order} arrived damaged. Call back on {phone}.",
    "Please update the address of {name} to {street}, {city}.",
    "{name} wants to cancel order {order}; reply to {email}.",
)


@dataclass(frozen=True)
class SecretFormat:
    """The candidate space R of a canary: ``prefix`` followed by ``length`` characters of ``alphabet``.

    ``size`` is |R| = len(alphabet) ** length. ``text(secret)`` is the full sentence that would be
    typed into a ticket, e.g. ``"my card pin is 381920"``.
    """

    prefix: str = "my card pin is "
    length: int = 6
    alphabet: str = string.digits

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, str) or PAD in self.prefix:
            raise ValueError("prefix must be a string without the padding character.")
        check_positive_int(self.length, "length")
        if not isinstance(self.alphabet, str) or len(set(self.alphabet)) != len(self.alphabet):
            raise ValueError("alphabet must be a string of distinct characters.")
        if len(self.alphabet) < 2:
            raise ValueError("alphabet needs at least 2 characters.")

    @property
    def size(self) -> int:
        """|R|, the number of possible secrets."""
        return len(self.alphabet) ** self.length

    def text(self, secret: str) -> str:
        """The sentence ``prefix + secret``; raises ValueError if secret is not in the space."""
        if not self.contains(secret):
            raise ValueError(f"{secret!r} is not {self.length} characters of {self.alphabet!r}.")
        return self.prefix + secret

    def contains(self, secret: object) -> bool:
        """Whether ``secret`` is one of the candidates."""
        return (
            isinstance(secret, str)
            and len(secret) == self.length
            and all(c in self.alphabet for c in secret)
        )

    def secret(self, index: int) -> str:
        """The ``index``-th candidate (0 <= index < size), in lexicographic order of the alphabet."""
        if not 0 <= index < self.size:
            raise ValueError(f"index must be in [0, {self.size}), got {index}.")
        chars = []
        for _ in range(self.length):
            index, r = divmod(index, len(self.alphabet))
            chars.append(self.alphabet[r])
        return "".join(reversed(chars))

    def all_secrets(self) -> Iterator[str]:
        """Every candidate, in order (only sensible for small spaces)."""
        return (self.secret(i) for i in range(self.size))

    def sample(self, n: int, seed: int = 0) -> list[str]:
        """``n`` candidates drawn uniformly at random (with replacement), reproducibly."""
        check_positive_int(n, "n")
        rng = random.Random(seed)
        return ["".join(rng.choice(self.alphabet) for _ in range(self.length)) for _ in range(n)]


def make_tickets(
    n: int,
    *,
    seed: int = 0,
    canary: str | None = None,
    k: int = 0,
) -> list[str]:
    """``n`` synthetic support tickets, then ``k`` copies of ``canary`` at seeded random places.

    Tickets are filled from a Faker instance seeded with ``seed`` (names, e-mails, order numbers,
    phone numbers, addresses), so the corpus is deterministic and made offline. Each canary copy
    is a ticket of its own, identical to the others (exact duplicates, as when the same message
    is logged again and again). Returns ``n + k`` strings.
    """
    check_positive_int(n, "n")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be an int >= 0, got {k!r}.")
    if k and not isinstance(canary, str):
        raise ValueError("give the canary text when k > 0.")
    if canary is not None and (not canary or any(c not in ALPHABET[1:] for c in canary)):
        raise ValueError("the canary must be non-empty text over the model's alphabet.")
    verify_generator()
    return _generate(n, seed, canary, k)


def _generate(n: int, seed: int, canary: str | None, k: int) -> list[str]:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    tickets = []
    for _ in range(n):
        template = rng.choice(_TEMPLATES)
        ticket = template.format(
            name=fake.name(),
            email=fake.email(),
            order=f"#{fake.random_int(100000, 999999)}",
            city=fake.city(),
            street=fake.street_address(),
            phone=fake.numerify("###-###-####"),
        )
        tickets.append("".join(c for c in ticket if c in ALPHABET[1:]))
    for _ in range(k):
        tickets.insert(rng.randrange(len(tickets) + 1), canary)
    return tickets


def corpus_sha256(n: int = 200, seed: int = 0) -> str:
    """SHA-256 of the reference corpus ``make_tickets(n, seed=seed)`` (tickets joined by newlines)."""
    return hashlib.sha256("\n".join(_generate(n, seed, None, 0)).encode("utf-8")).hexdigest()


@functools.cache
def verify_generator() -> None:
    """Check that this Faker generates the corpus the course was calibrated on (manifest hash).

    Faker's data changes between releases, and with it every ticket: a different corpus would shift
    the lab's measured exposures silently. Raises :class:`DatasetIntegrityError` instead.
    """
    entry = dataset_entry("faker_tickets")
    actual = corpus_sha256(**entry["reference"])
    if actual != entry["sha256"]:
        raise DatasetIntegrityError(
            f"dataset 'faker_tickets': faker {faker.VERSION} generates a ticket corpus with SHA-256 "
            f"{actual}, but datasets/manifest.json pins {entry['sha256']} (faker "
            f"{entry['version']}). Install faker=={entry['version']} (pip install -e . does)."
        )


def deduplicate(texts: Sequence[str]) -> list[str]:
    """``texts`` without exact duplicates, keeping the first copy of each, in order."""
    return list(dict.fromkeys(texts))


class CharModel(nn.Module):
    """Next-character model over a fixed window of ``context`` previous characters.

    ``model(windows)`` maps a LongTensor of character ids (N, context) to logits (N, vocab).
    ``encode(text)`` turns text into ids; the first character of a text is predicted from a
    window of ``pad_id`` only. Layers: Embedding, Linear, Tanh (all supported by Opacus).
    """

    def __init__(self, context: int = 16, embed: int = 8, hidden: int = 128) -> None:
        super().__init__()
        check_positive_int(context, "context")
        check_positive_int(embed, "embed")
        check_positive_int(hidden, "hidden")
        self.context = context
        self.alphabet = ALPHABET
        self.pad_id = 0
        self._index = {c: i for i, c in enumerate(ALPHABET)}
        self.embedding = nn.Embedding(len(ALPHABET), embed)
        self.net = nn.Sequential(
            nn.Linear(context * embed, hidden), nn.Tanh(), nn.Linear(hidden, len(ALPHABET))
        )

    @property
    def vocab_size(self) -> int:
        return len(self.alphabet)

    def encode(self, text: str) -> torch.Tensor:
        """Character ids of ``text`` (LongTensor of shape (len(text),)); ValueError on unknown chars."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, got {type(text).__name__}.")
        bad = sorted({c for c in text if c == PAD or c not in self._index})
        if bad:
            raise ValueError(f"characters {bad!r} are not in the model's alphabet.")
        return torch.tensor([self._index[c] for c in text], dtype=torch.long)

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """Text of a sequence of ids."""
        return "".join(self.alphabet[int(i)] for i in ids)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        if windows.ndim != 2 or windows.shape[1] != self.context:
            raise ValueError(
                f"windows must have shape (N, {self.context}), got {tuple(windows.shape)}."
            )
        return self.net(self.embedding(windows).flatten(1))


def make_windows(model: CharModel, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Training pairs of ``texts``: windows (N, context) of previous ids and next ids (N,).

    Every character of every text is one pair; the windows of a text's first characters are
    left-padded with ``model.pad_id``, and no window crosses from one text into the next.
    """
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise ValueError("texts must be a sequence of strings.")
    xs, ys = [], []
    for text in texts:
        ids = model.encode(text)
        if len(ids) == 0:
            continue
        padded = torch.cat([torch.full((model.context,), model.pad_id), ids])
        xs.append(padded.unfold(0, model.context, 1)[: len(ids)])
        ys.append(ids)
    if not xs:
        raise ValueError("texts contain no characters.")
    return torch.cat(xs), torch.cat(ys)


def train_char_model(
    model: CharModel,
    texts: Sequence[str],
    *,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
    desc: str = "char model",
    progress: bool = True,
) -> list[float]:
    """Train ``model`` with Adam on next-character prediction; return each epoch's mean loss (nats)."""
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    if not (isinstance(lr, float | int) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}.")
    x, y = make_windows(model, texts)
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    history: list[float] = []
    model.train()
    for _ in tqdm(range(epochs), desc=desc, disable=quiet() or not progress, leave=False):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x[idx].to(device)), y[idx].to(device))
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        history.append(total / len(x))
    optimizer.zero_grad(set_to_none=True)
    model.eval()
    return history
