"""Notes every surface says: queued, too slow, already running, expired, refused, usage.

Written once in the shared note markup (bot/render/text.py); each surface shows it its way.
"""

from __future__ import annotations

from bot.domain.access import Denial
from bot.render.text import clip, escape, mention

WHAT = {
    "approve": "Your Approve",
    "reject": "Your Reject",
    "retry": "Your Retry",
    "page": "The page you asked for",
}


def queued_note(what: str, ahead: int) -> str:
    """A click that could not start at once: say so, so nobody clicks again."""
    jobs = "click is" if ahead == 1 else "clicks are"
    return (
        f":hourglass_flowing_sand: Queued: {ahead} other {jobs} ahead of yours. "
        f"{WHAT.get(what, 'Your click')} will follow in a moment; no need to click again."
    )


def command_ack(doing: str, ahead: int) -> str:
    """The ack of a command: started, or queued behind `ahead` others."""
    if not ahead:
        return f"{doing}… the proposal will appear here."
    others = "request is" if ahead == 1 else "requests are"
    return (
        f"Queued: {ahead} other {others} ahead of yours. {doing} as soon as one finishes; "
        "the proposal will appear here."
    )


def deadline_note(seconds: float) -> str:
    return (
        f":warning: This took longer than {seconds:g} s, so it was stopped: nothing was posted "
        "and nothing was changed. The model or Asana may be slow right now; try again in a "
        "few minutes."
    )


def already_running_note(project_name: str, asked_by: str, *, same_channel: bool) -> str:
    where = "" if same_channel else " in another channel"
    then = (
        "You will be told here when it is posted."
        if same_channel
        else "When it is done, the ranking is posted here too (from the same model answers)."
    )
    return (
        f"A ranking of *{escape(project_name)}* is already running (asked by "
        f"{mention(asked_by)}{where}), so no second one was started. {then}"
    )


def ranking_ready_note(project_name: str, asked_by: str) -> str:
    return (
        f"The ranking of *{escape(project_name)}* that {mention(asked_by)} asked for is "
        "ready: it was just posted in this channel, with Approve and Reject."
    )


RUN_FAILED = "something went wrong on our side. Nothing was changed."


def ranking_failed_note(project_name: str, reason: str) -> str:
    """`reason` is already escaped (a job's message_for, or deadline_note)."""
    return f"The ranking of *{escape(project_name)}* you were waiting for did not finish: {reason}"


def expired_note(days: int) -> str:
    return (
        f":hourglass: This proposal has expired: run the command again. It is more than {days} "
        f"day{'s' if days != 1 else ''} old, so nothing was written."
    )


def interrupted_note(command: str, text: str) -> str:
    """A command acknowledged by an instance that stopped before answering (issue 11)."""
    typed = f"{command} {text}".strip()
    return (
        f":warning: Your `{escape(typed)}` was interrupted: the app restarted before it "
        "finished. Nothing was posted and nothing was changed; please run it again."
    )


IN_PROGRESS_NOTE = (
    "This proposal is being applied right now; the message will update when it is done."
)
INTERRUPTED_NOTE = (
    ":warning: Applying this proposal was interrupted (our database did not answer). What was "
    "written stays written and nothing is written twice: press Approve again to finish it."
)


def decision_unshown_note(status: str, written: int, not_written: int, reason: str) -> str:
    """Said privately when a decision stands but its message could not be updated.

    Asana was already written (or the rejection recorded), so "nothing was changed" would be
    false: say what really happened, and why the message still shows the buttons.
    """
    why = f"the message could not be updated ({escape(reason)})"
    if status == "rejected":
        return f"Rejected: nothing was written to Asana; {why}."
    done = f"Approved: {written} written to Asana"
    if not_written:
        done += f", {not_written} not written yet"
    return f"{done}; {why}."


# -- access (issue 10) ----------------------------------------------------------------------

HOW_TO_NAME_APPROVERS = (
    "Nobody may approve yet: name the approvers with `COPILOT_APPROVERS` (Slack user ids, "
    "e.g. `COPILOT_APPROVERS=U012AB3CD,U045EF6GH`, or `admins` for the workspace's admins and "
    "owners, or both) and restart the copilot. Nothing was changed."
)


def denial_text(why: Denial) -> str:
    """The private answer to a command or click refused before anything else ran."""
    if why is Denial.UNVERIFIED:
        return (
            "I could not check your Slack account just now; try again in a minute. "
            "Nothing was changed."
        )
    if why is Denial.GUEST:
        return (
            "Guests can't use the copilot in this workspace; ask a full member of the team. "
            "Nothing was changed."
        )
    return (
        "The copilot answers only members of the workspace it is installed in. Nothing was changed."
    )


def decision_refusal_text(why: str | None) -> str:
    """Why Approve / Reject / Retry did nothing (see usecases.approvals.Refusal)."""
    if why == "no approvers":
        return HOW_TO_NAME_APPROVERS
    if why == "not linked":
        return (
            "This proposal's project is no longer linked to this channel, so it can't be decided "
            "here. Nothing was changed."
        )
    return "Only the team's approvers can approve, reject or retry proposals; nothing was changed."


def not_linked_message(ref: str) -> str:
    """The one refusal for a project a channel may not use: the same whether it exists or not."""
    shown = clip(" ".join(ref.split()), 80)
    return (
        f"No Asana project is named “{shown}” among the projects of this channel. An approver "
        "can link a project to this channel on the copilot's Home tab."
    )


def not_linked_for_posting(project_name: str, channel: str) -> str:
    """For scheduled and command-line posts (digests, overload alerts): the operator's message."""
    return (
        f"“{project_name}” is not linked to channel {channel}: link it on the Home tab (or list "
        "its gid in COPILOT_PROJECTS), then try again. Nothing was posted."
    )


# -- /plan-sprint usage -------------------------------------------------------------------------

USAGE = (
    "Usage: `/plan-sprint [project] [sprint name] [capacity]`, e.g. `/plan-sprint`, "
    "`/plan-sprint 40`, `/plan-sprint Sprint 25`, "
    '`/plan-sprint "Platform Backlog" Sprint 25 30 pts`.\n'
    "• *project*: first, a gid or a name (in quotes when it has spaces); default `ASANA_PROJECT`\n"
    "• *sprint name*: free text; default the next in the Sprint field (Sprint 24 → Sprint 25)\n"
    "• *capacity*: last, a number in the project's unit, or with `pts` / `h`; default the "
    "team's velocity"
)


def usage_text(reason: str = "") -> str:
    """The usage line after what was wrong, as raw text: whoever sends it escapes it."""
    head = f"I could not read that: {reason}\n" if reason else ""
    return head + USAGE


# -- Slack's permanent refusals (issue 9 §4) ---------------------------------------------------

APP_NAME = "Asana Copilot"
_REINSTALL = {"invalid_auth", "account_inactive", "token_revoked", "not_allowed_token_type"}
# Workspace or channel settings an admin controls (read-only channel, suspended posting, ...).
_ADMIN_SETTING = {
    "restricted_action",
    "restricted_action_read_only_channel",
    "restricted_action_thread_only_channel",
    "restricted_action_non_threadable_channel",
    "ekm_access_denied",
    "team_access_not_granted",
}


def post_refusal_text(service: str, code: str) -> str:
    """What a person reads when a chat service refused a post for good."""
    if service == "Slack":
        return slack_refusal_text(code)
    if code == "app_removed":
        return (
            f"The copilot was removed from that {escape(service)} team or chat, so nothing more "
            "is posted there: add the app again to resume. Nothing was changed."
        )
    return (
        f"{escape(service)} refused to let the copilot post there ({escape(code or 'refused')}): "
        "ask an admin to add the app to that conversation again. Nothing was changed."
    )


def slack_refusal_text(code: str, *, here: bool = True) -> str:
    """What a person reads when Slack refused a post for good, and how to fix it."""
    where = "this channel" if here else "that channel"
    if code in ("channel_not_found", "not_in_channel"):
        # Slack answers so for a private channel, DM or group DM the app is not a member of.
        return (
            f"I can't post there yet: invite @{APP_NAME} to {where} (type "
            f"`/invite @{APP_NAME}` in it), then try again. Nothing was changed."
        )
    if code == "is_archived":
        return f"{where.capitalize()} is archived, so I can't post in it. Nothing was changed."
    if code in _ADMIN_SETTING:
        return (
            f"A Slack setting stops @{APP_NAME} from posting in {where} ({escape(code)}): ask a "
            f"workspace or channel admin to let the app post there. Nothing was changed."
        )
    if code in _REINSTALL:
        return (
            f"Slack no longer accepts the app's token ({escape(code)}): a workspace admin needs "
            f"to reinstall {APP_NAME}. Nothing was changed."
        )
    return (
        f"Slack refused the app a permission it needs ({escape(code)}): a workspace admin needs "
        f"to reinstall {APP_NAME} with the scopes of manifest.yml. Nothing was changed."
    )
