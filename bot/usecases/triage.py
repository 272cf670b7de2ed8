"""New tasks triaged as they are created, and /estimate (issue 13 §2–§4).

`tasks_created` is what the Asana webhooks call: it returns at once, gathers a burst for a short
window (a CSV import of 50 tasks is one card), and triages in the background. Each task is
triaged once, ever: the claim is a row in the store (across restarts and instances). A triage
card proposes the AI fields (the /prioritize scoring and model path), a Story Points estimate
with its evidence, acceptance criteria, possible duplicates and an assignee menu; Approve goes
through the one approval engine, then comments on each task (once, even across a crash: the
comment carries a marker that is looked for among the task's stories before posting).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from bot.domain.models import Task
from bot.domain.scoring import ScoredTask
from bot.errors import ModelOutputError, NotFoundError, UpstreamError, UserFacingError
from bot.gateways.asana import FIELD_STORY_POINTS, Comment, Project
from bot.jobs import JobQueue
from bot.render.prompts import data_json, prompt_version, render_messages
from bot.render.triage import comment_marker, comment_text
from bot.storage.store import ItemRow, ProposalRow, Store
from bot.usecases.approvals import ApprovalEngine, ItemOutcome, NewProposal
from bot.usecases.chat import ChatPort
from bot.usecases.overload import SKILLS_FIELD, parse_skills, work_items
from bot.usecases.prioritize import Prioritizer, priority_item

if TYPE_CHECKING:  # numpy loads at the first triage or estimate (an idle instance never does)
    from bot.domain.estimate import Estimate, StoryPointEstimator

log = logging.getLogger(__name__)

KIND = "triage"
ESTIMATE_KIND = "estimate"
GATHER_SECONDS = 5.0  # a burst (an import) arrives within this: one card for all of it
HISTORY_DAYS = 365  # finished tasks the estimator learns from
HORIZON_WEEKS = 2  # "next weeks' capacity" for the suggested assignee
ESTIMATE_USAGE = "Use `/estimate <project gid or name>`."
NOBODY = "none"  # the select menu's "nobody" option
CRITERIA_PROMPT = "acceptance"
ESTIMATE_PROMPT = "estimate"
ESTIMATE_BATCH = 25  # tasks per model request for adjusted estimates (as /prioritize batches)
MODEL_CRITERIA = 10  # tasks of a burst whose criteria the model drafts (the rest: rules)
MAX_CONCURRENT_CRITERIA = 4


class TriageModel(Protocol):
    model: str

    def draft_criteria(self, messages: list[dict[str, str]]) -> list[str]: ...
    def adjust_estimates(self, messages: list[dict[str, str]]) -> dict[str, float]: ...


class TriageAsana(Protocol):
    def project(self, gid: str) -> Project: ...
    def tasks_open_or_completed_since(self, project: Project, since: datetime) -> list[Task]: ...
    def me(self) -> str: ...
    def creators(self, gids: Sequence[str]) -> dict[str, str | None]: ...
    def stories(self, task_gid: str) -> list[tuple[str, str]]: ...
    def comments_by_task(self, task_gids: Sequence[str]) -> dict[str, list[Comment]]: ...
    def add_comment(self, task_gid: str, text: str) -> str: ...


class Channels(Protocol):
    """Which channels a project is linked to (bot.usecases.access.AccessPolicy)."""

    def links(self, channel: str | None = None) -> list[Any]: ...
    def resolve(self, channel: str, ref: str, *, usage: str) -> Any: ...


@dataclass(frozen=True)
class Proposed:
    id: str
    channel: str
    view: dict[str, Any]


class TriageService:
    def __init__(
        self,
        *,
        asana: TriageAsana,
        engine: ApprovalEngine,
        store: Store,
        prioritizer: Prioritizer,
        channels: Channels,
        jobs: JobQueue,
        clock: Callable[[], datetime],
        today: Callable[[], date],
        default_project: str | None,
        default_channel: str | None,
        weekly_hours: float = 40.0,
        hours_per_point: float = 4.0,
        gather_seconds: float = GATHER_SECONDS,
        llm: TriageModel | None = None,
        chat: ChatPort | None = None,
    ) -> None:
        self._asana = asana
        self._engine = engine
        self._store = store
        self._prioritizer = prioritizer
        self._channels = channels
        self._jobs = jobs
        self._clock = clock
        self._today = today
        self._default_project = default_project
        self._default_channel = default_channel
        self._weekly_hours = weekly_hours
        self._hours_per_point = hours_per_point
        self._gather = gather_seconds
        self._llm = llm
        self._chat = chat  # where cards are posted: Slack, or Teams for a teams: channel
        self._lock = threading.Lock()
        self._waiting: dict[str, list[str]] = {}  # project gid -> task gids gathered
        self._timers: dict[str, threading.Timer] = {}
        self._closed = False  # after close(), late webhook bursts are left to the next reconcile
        engine.add_follow_up(KIND, self._comment)

    # -- new tasks -------------------------------------------------------------------------

    def tasks_created(self, project_gid: str, task_gids: Sequence[str]) -> None:
        """Triage these new tasks soon; returns at once. A burst becomes one card."""
        if not task_gids:
            return
        with self._lock:
            if self._closed:
                return
            self._waiting.setdefault(project_gid, []).extend(task_gids)
            if project_gid in self._timers:
                return
            timer = threading.Timer(self._gather, self._gathered, [project_gid])
            timer.daemon = True
            self._timers[project_gid] = timer
        timer.start()

    def _gathered(self, project_gid: str) -> None:
        with self._lock:
            self._timers.pop(project_gid, None)
            gids = list(dict.fromkeys(self._waiting.pop(project_gid, [])))
        if gids:
            self._jobs.submit(lambda: self.triage(project_gid, gids), reply=_log_only)

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until gathered tasks are triaged and posted (tests, the demo, shutdown)."""
        end = time.monotonic() + timeout
        while True:
            with self._lock:
                timers = list(self._timers.values())
            if not timers:
                break
            for timer in timers:
                timer.join(max(0.0, end - time.monotonic()))
        self._jobs.drain(max(0.0, end - time.monotonic()))

    def close(self) -> None:
        """Stop gathering (shutdown): tasks still waiting are left unclaimed, so the reconcile
        read after the next start brings them back."""
        with self._lock:
            self._closed = True
            timers, self._timers = list(self._timers.values()), {}
            self._waiting.clear()
        for timer in timers:
            timer.cancel()

    def triage(self, project_gid: str, task_gids: Sequence[str]) -> Proposed | None:
        """Propose and post one card for the tasks not triaged before; None when none is left."""
        claimed = self._store.claim_triage(project_gid, task_gids)
        if not claimed:
            return None
        try:
            channel = self.channel_for(project_gid)
            if channel is None:
                log.info("project %s is linked to no channel: no triage card", project_gid)
                return None
            me = self._asana.me()
            creators = self._asana.creators(claimed)
            by_people = [g for g in claimed if creators.get(g) != me]  # not the copilot's own
            if not by_people:
                return None
            project = self._asana.project(project_gid)
            tasks = self._asana.tasks_open_or_completed_since(
                project, self._clock() - timedelta(days=HISTORY_DAYS)
            )
            wanted = set(by_people)
            new = [t for t in tasks if t.gid in wanted and not t.completed]
            if not new:
                return None
            proposed = self._propose_triage(project, new, tasks, channel)
            self._store.set_triage_proposal(claimed, proposed.id)
        except BaseException:
            self._store.release_triage(claimed)  # a later event tries these again
            raise
        self._post(proposed)
        return proposed

    def channel_for(self, project_gid: str) -> str | None:
        """The channel a project's triage cards go to: STANDUP_CHANNEL for ASANA_PROJECT, else
        the first channel linked to it (COPILOT_PROJECTS: STANDUP_CHANNEL)."""
        if project_gid == self._default_project and self._default_channel:
            return self._default_channel
        linked = sorted(link.channel for link in self._channels.links() if link.gid == project_gid)
        if linked:
            return linked[0]
        everywhere = getattr(self._channels, "everywhere", frozenset())
        if project_gid in everywhere and self._default_channel:
            return self._default_channel
        return None

    def _propose_triage(
        self, project: Project, new: Sequence[Task], tasks: Sequence[Task], channel: str
    ) -> Proposed:
        from bot.domain.triage import find_duplicates, rank_candidates

        new_gids = {t.gid for t in new}
        estimator = self._estimator(tasks)
        ranked, model = self._prioritizer.score(project, new)
        scored = {s.task.gid: s for s in ranked}
        open_others = [
            (t.gid, t.name, t.notes, t.permalink)
            for t in tasks
            if not t.completed and t.gid not in new_gids
        ]
        criteria = self._criteria(project, new)
        people_skills, names = _people(tasks)
        planned, capacity = self._capacity(tasks, people_skills)
        by_gid = {t.gid: t for t in tasks}
        similar = {t.gid: estimator.predict(t.name, t.notes) for t in new}
        adjusted = self._adjusted(project, new, similar)
        rows = []
        items = []
        for task in new:
            s = scored[task.gid]
            estimate = adjusted.get(task.gid, similar[task.gid])
            skills = parse_skills(task.field_value(SKILLS_FIELD))
            if not skills and estimate is not None:  # the skills of the most similar work
                for e in estimate.evidence:
                    done = by_gid.get(e.id)
                    if done is not None:
                        skills |= parse_skills(done.field_value(SKILLS_FIELD))
            candidates = rank_candidates(skills, people_skills, names, planned, capacity)
            duplicates = find_duplicates(task.name, task.notes, open_others)
            gid, label, changes, guard = priority_item(s)
            if estimate is not None and task.story_points is None:
                changes[FIELD_STORY_POINTS] = estimate.points  # fill-only: see changes.FILL_ONLY
            items.append((gid, label, changes, guard))
            rows.append(
                {
                    **_priority_row(s),
                    "assignee_gid": task.assignee.gid if task.assignee else None,
                    "story_points": task.story_points,
                    "estimate": _estimate_view(estimate, by_gid, similar[task.gid]),
                    "criteria": list(criteria[task.gid][0]),
                    "criteria_by": criteria[task.gid][1],
                    "duplicates": [d.__dict__ for d in duplicates],
                    "skills": sorted(skills),
                    "candidates": [
                        {**c.__dict__, "free_hours": round(c.free_hours, 1)} for c in candidates
                    ],
                }
            )
        view = {
            "kind": KIND,
            "project": {"gid": project.gid, "name": project.name, "permalink": project.permalink},
            "model": model,
            "criteria_by": "model" if self._llm is not None else "rules",
            "history": estimator.size,
            "horizon_weeks": HORIZON_WEEKS,
            "missing_fields": project.missing(
                [*{k for _, _, c, _ in items for k in c}, FIELD_STORY_POINTS]
            ),
            "rows": rows,
            "fallback": f"Triage: {len(rows)} new task{'s' if len(rows) != 1 else ''} in "
            f"{project.name}",
        }
        proposal = NewProposal(
            kind=KIND,
            project_gid=project.gid,
            project_name=project.name,
            channel=channel,
            created_by="copilot",
            items=items,
            inputs=[{"gid": t.gid, "name": t.name} for t in new],
            view=view,
            model=model,
        )
        self._engine.propose(proposal)
        return Proposed(proposal.id, channel, view)

    def _criteria(
        self, project: Project, tasks: Sequence[Task]
    ) -> dict[str, tuple[tuple[str, ...], str]]:
        """Each task's acceptance criteria and who drafted them ("model" or "rules").

        With a model, it drafts them from the task's text (as data: escaped, inside
        <task_json>); an unusable answer, or a task past the first MODEL_CRITERIA of a burst,
        gets the rules draft, and the card says which.
        """
        from bot.domain.triage import draft_criteria

        drafted = {t.gid: (draft_criteria(t.name, t.notes), "rules") for t in tasks}
        llm = self._llm
        if llm is None:
            return drafted

        def ask(task: Task) -> tuple[str, tuple[tuple[str, ...], str] | None]:
            messages = render_messages(
                CRITERIA_PROMPT,
                project_name=project.name,
                task_json=data_json({"name": task.name, "notes": task.notes[:1500]}),
            )
            try:
                return task.gid, (tuple(llm.draft_criteria(messages)), "model")
            except ModelOutputError as exc:
                log.warning("acceptance criteria by rules: the model's answer failed (%s)", exc)
                return task.gid, None

        with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_CRITERIA) as pool:
            for gid, answer in pool.map(ask, tasks[:MODEL_CRITERIA]):
                if answer is not None:
                    drafted[gid] = answer
        return drafted

    def _adjusted(
        self,
        project: Project,
        tasks: Sequence[Task],
        similar: Mapping[str, Estimate | None],
    ) -> dict[str, Estimate]:
        """The similarity estimates the model adjusted, by task gid (issue 13 §4).

        The model sees each task's text (as data, inside <estimates_json>), its estimate, range
        and evidence, and answers one value per task, ESTIMATE_BATCH tasks a request. An answer
        that is not a number of points (the gateway checks each item), for an unknown task, or no
        usable answer at all keeps the similarity estimate; a valid one goes through
        `Estimate.adjusted`, which keeps it inside the range and on the project's scale whatever
        the task's text asked for. Answers are cached by content + prompt
        version + model, so an unchanged re-run asks nothing.
        """
        llm = self._llm
        if llm is None:
            return {}
        version = prompt_version(ESTIMATE_PROMPT)
        rows = {t.gid: _estimate_row(t, e) for t in tasks if (e := similar.get(t.gid)) is not None}
        keys = {
            gid: hashlib.sha256(
                json.dumps(
                    {"estimate": row, "prompt": version, "model": llm.model}, sort_keys=True
                ).encode()
            ).hexdigest()
            for gid, row in rows.items()
        }
        answers: dict[str, float | None] = {}
        cached = self._store.cached_judgements(list(keys.values()))
        for gid, key in keys.items():
            if key in cached:
                answers[gid] = cached[key]["points"]
        todo = [gid for gid in rows if gid not in answers]
        new_cache: dict[str, Any] = {}
        for start in range(0, len(todo), ESTIMATE_BATCH):
            batch = todo[start : start + ESTIMATE_BATCH]
            messages = render_messages(
                ESTIMATE_PROMPT,
                project_name=project.name,
                estimates_json=data_json([rows[gid] for gid in batch]),
            )
            try:
                answer = llm.adjust_estimates(messages)
            except ModelOutputError as exc:  # asked again on the next run
                log.warning("estimates by similarity only: the model's answer failed (%s)", exc)
                continue
            for gid in batch:
                answers[gid] = answer.get(gid)
                new_cache[keys[gid]] = {"points": answers[gid]}
        if new_cache:
            self._store.cache_judgements(new_cache, model=llm.model)
        adjusted: dict[str, Estimate] = {}
        for gid, points in answers.items():
            estimate = similar[gid]
            if points is not None and estimate is not None:
                adjusted[gid] = estimate.adjusted(points)
        return adjusted

    def _post(self, proposed: Proposed) -> None:
        if self._chat is None:
            raise RuntimeError("triage cards need a chat port to post to (services.py wires it)")
        self._chat.post_proposal(
            proposed.channel, proposed.view, proposed.id, proposed_by="copilot"
        )

    # -- the assignee menu ---------------------------------------------------------------------

    def choose_assignee(
        self, proposal_id: str, task_gid: str, choice: str, *, user: str, channel: str
    ) -> str:
        """Keep an approver's pick from a triage card's menu with the proposal; what to tell them.

        Only approvers pick (the pick is what Approve writes); only a listed candidate or
        "nobody"; only while the proposal is open.
        """
        proposal = self._store.proposal(proposal_id)
        if proposal is None or proposal.kind != KIND:
            raise NotFoundError("That proposal no longer exists.")
        if proposal.channel != channel:
            raise UserFacingError("That proposal belongs to another channel.")
        if self._engine.refusal(user, proposal) is not None:
            raise UserFacingError("Only approvers pick the assignee of a triaged task.")
        row = next((r for r in proposal.view["rows"] if r["gid"] == task_gid), None)
        if row is None:
            raise UserFacingError("That task is not part of this triage.")
        names = {c["gid"]: c["name"] for c in row["candidates"]}
        if choice != NOBODY and choice not in names:
            raise UserFacingError("That person is not among the suggested assignees.")
        pick = None if choice == NOBODY else choice
        if not self._store.choose_assignee(
            proposal_id, task_gid, pick, seen=row.get("assignee_gid"), user=user
        ):
            raise UserFacingError("This triage was decided already: the pick was not kept.")
        if pick is None:
            return f"Nobody will be assigned to “{row['name']}”."
        return f"On Approve, “{row['name']}” will be assigned to {names[pick]}."

    def choose_from_inputs(
        self, proposal: ProposalRow, data: Mapping[str, Any], *, user: str, channel: str
    ) -> None:
        """Teams: the menus' values submitted with Approve (`assignee:<task gid>` inputs)."""
        if proposal.kind != KIND:
            return
        for key, value in data.items():
            if isinstance(key, str) and key.startswith("assignee:") and value:
                self.choose_assignee(
                    proposal.id,
                    key.removeprefix("assignee:"),
                    str(value),
                    user=user,
                    channel=channel,
                )

    # -- after Approve: the comment on each task -----------------------------------------------

    def _comment(
        self, proposal: ProposalRow, items: Sequence[ItemRow], confirm: Callable[[], bool]
    ) -> list[ItemOutcome]:
        """Comment once on each written task; outcomes of the comments that failed (Retry)."""
        rows = {r["gid"]: r for r in proposal.view["rows"]}
        actor = proposal.decided_by or "copilot"
        failed: list[ItemOutcome] = []
        # The keys of a person's values the engine kept, from its outcomes' detail (_keep_filled).
        kept: dict[str, set[str]] = {}
        for row in self._store.audit_rows(proposal.id):
            if row["task_gid"] and isinstance(row["detail"], dict):
                kept.setdefault(row["task_gid"], set()).update(row["detail"].get("kept", ()))
        done = self._store.triage_comments(proposal.id)
        todo = [i for i in items if i.task_gid not in done]
        if not todo:
            return failed
        marker = comment_marker(proposal.id)
        try:  # every task's comments, 10 tasks a /batch request
            comments = self._asana.comments_by_task([i.task_gid for i in todo])
        except (UpstreamError, UserFacingError) as exc:
            return [(i.task_gid, "failed", f"comment not posted: {exc}", {}) for i in todo]
        for item in todo:
            try:
                story = None
                if any(marker in c.text for c in comments.get(item.task_gid, ())):
                    # Posted before a crash but not recorded (rare): its gid from the stories.
                    story = next(
                        (gid for gid, text in self._asana.stories(item.task_gid) if marker in text),
                        None,
                    )
                if story is None:
                    if not confirm():  # the lease is lost: its new holder comments
                        return failed
                    left = kept.get(item.task_gid, set())
                    written = {k: v for k, v in item.changes.items() if k not in left}
                    text = comment_text(rows[item.task_gid], proposal.id, written)
                    story = self._asana.add_comment(item.task_gid, text)
            except (UpstreamError, UserFacingError) as exc:
                failed.append((item.task_gid, "failed", f"comment not posted: {exc}", {}))
                continue
            self._store.record_triage_comment(proposal.id, item.task_gid, story)
            self._store.audit(proposal.id, actor, "commented", item.task_gid, {"story": story})
        return failed

    # -- /estimate ------------------------------------------------------------------------------

    def resolve_project(self, ref: str, *, channel: str) -> Project:
        return self._channels.resolve(channel, ref, usage=ESTIMATE_USAGE)

    def propose_estimates(self, project_ref: str, *, channel: str, user: str) -> Proposed:
        """Every open task without an estimate, with a proposed one and its evidence."""
        project = self.resolve_project(project_ref, channel=channel)
        tasks = self._asana.tasks_open_or_completed_since(
            project, self._clock() - timedelta(days=HISTORY_DAYS)
        )
        open_tasks = [t for t in tasks if not t.completed]
        if not open_tasks:
            raise UserFacingError(f"“{project.name}” has no open tasks: nothing to estimate.")
        todo = [t for t in open_tasks if t.story_points is None and t.estimated_hours is None]
        if not todo:
            raise UserFacingError(
                f"Every open task of “{project.name}” has an estimate: nothing to estimate."
            )
        if project.missing([FIELD_STORY_POINTS]):
            raise UserFacingError(
                f"“{project.name}” has no “{FIELD_STORY_POINTS}” field: add it to the project."
            )
        estimator = self._estimator(tasks)
        by_gid = {t.gid: t for t in tasks}
        similar = {t.gid: estimator.predict(t.name, t.notes) for t in todo}
        adjusted = self._adjusted(project, todo, similar)
        rows, items = [], []
        for task in todo:
            estimate = adjusted.get(task.gid, similar[task.gid])
            if estimate is None:
                continue
            rows.append(
                {
                    "gid": task.gid,
                    "name": task.name,
                    "permalink": task.permalink,
                    "assignee": task.assignee.name if task.assignee else None,
                    "estimate": _estimate_view(estimate, by_gid, similar[task.gid]),
                }
            )
            items.append((task.gid, task.name, {FIELD_STORY_POINTS: estimate.points}, {}))
        if not rows:
            raise UserFacingError(
                f"“{project.name}” has no finished task with Story Points yet: there is nothing "
                "to estimate from."
            )
        view = {
            "kind": ESTIMATE_KIND,
            "project": {"gid": project.gid, "name": project.name, "permalink": project.permalink},
            "history": estimator.size,
            "open": len(open_tasks),
            "rows": rows,
            "fallback": f"Estimates for {len(rows)} tasks of {project.name}",
        }
        proposal = NewProposal(
            kind=ESTIMATE_KIND,
            project_gid=project.gid,
            project_name=project.name,
            channel=channel,
            created_by=user,
            items=items,
            inputs=[{"gid": t.gid, "name": t.name} for t in todo],
            view=view,
        )
        self._engine.propose(proposal)
        return Proposed(proposal.id, channel, view)

    # -- shared ---------------------------------------------------------------------------------

    def _estimator(self, tasks: Sequence[Task]) -> StoryPointEstimator:
        """Fitted on the project's finished tasks with Story Points, oldest first."""
        from bot.domain.estimate import FinishedTask, StoryPointEstimator

        done = sorted(
            (t for t in tasks if t.completed and t.story_points is not None),
            key=lambda t: (
                t.completed_at or datetime.min.replace(tzinfo=self._clock().tzinfo),
                t.gid,
            ),
        )
        return StoryPointEstimator.fit(
            [FinishedTask(t.gid, t.name, t.notes, float(t.story_points or 0)) for t in done]
        )

    def _capacity(
        self, tasks: Sequence[Task], people: Mapping[str, frozenset[str]]
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Each person's planned hours over the next weeks, and their capacity for them."""
        from bot.domain.forecast import forecast_load

        open_tasks = [t for t in tasks if not t.completed]
        forecast = forecast_load(
            work_items(open_tasks, hours_per_point=self._hours_per_point, with_skills=False),
            today=self._today(),
            weeks=HORIZON_WEEKS,
        )
        planned: dict[str, float] = {}
        for (person, _), load in forecast.loads.items():
            planned[person] = planned.get(person, 0.0) + load.hours
        overrides = self._store.weekly_hours_overrides()
        capacity = {p: overrides.get(p, self._weekly_hours) * HORIZON_WEEKS for p in people}
        return planned, capacity


def _people(tasks: Sequence[Task]) -> tuple[dict[str, frozenset[str]], dict[str, str]]:
    """Each assignee's skills (from the Skills of every task they hold or finished), and names."""
    skills: dict[str, frozenset[str]] = {}
    names: dict[str, str] = {}
    for t in tasks:
        if t.assignee is None:
            continue
        names[t.assignee.gid] = t.assignee.name
        skills[t.assignee.gid] = skills.get(t.assignee.gid, frozenset()) | parse_skills(
            t.field_value(SKILLS_FIELD)
        )
    return skills, names


def _priority_row(s: ScoredTask) -> dict[str, Any]:
    return {
        "gid": s.task.gid,
        "name": s.task.name,
        "permalink": s.task.permalink,
        "score": s.score,
        "confidence": s.confidence,
        "rationale": s.rationale,
        "sprint": s.suggested_sprint.value,
        "source": s.source.value,
        "assignee": s.task.assignee.name if s.task.assignee else None,
    }


def _estimate_row(task: Task, estimate: Estimate) -> dict[str, Any]:
    """What the model is shown of one task and its similarity estimate."""
    return {
        "id": task.gid,
        "name": task.name,
        "notes": task.notes[:1500],
        "estimate": estimate.points,
        "range": [estimate.low, estimate.high],
        "scale": list(estimate.scale),
        "similar_finished_tasks": [
            {"name": e.title, "points": e.points} for e in estimate.evidence
        ],
    }


def _estimate_view(
    estimate: Estimate | None, by_gid: Mapping[str, Task], similar: Estimate | None = None
) -> dict[str, Any] | None:
    if estimate is None:
        return None
    return {
        "points": estimate.points,
        "adjusted_by_model": estimate.adjusted_by_model,
        "similar_points": similar.points if similar is not None else estimate.points,
        "low": estimate.low,
        "high": estimate.high,
        "coverage": estimate.coverage,
        "measured_coverage": estimate.measured_coverage,
        "basis": estimate.basis,
        "evidence": [
            {
                "gid": e.id,
                "name": e.title,
                "points": e.points,
                "similarity": e.similarity,
                "permalink": by_gid[e.id].permalink if e.id in by_gid else "",
            }
            for e in estimate.evidence
        ],
    }


def _log_only(text: str) -> None:
    """Nobody typed a command for a triage: a failure is logged (the job queue's message)."""
    log.warning("triage failed: %s", text)
