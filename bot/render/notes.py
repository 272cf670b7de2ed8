"""Short private notes about the app's own work: queued, too slow, already running, expired."""

from __future__ import annotations

from bot.render.blocks import escape, mention

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
