"""What a workflow history shows of the commands its run issued."""

import json

from temporalio.client import WorkflowHistory

__all__ = ["scheduled_and_patches"]


def scheduled_and_patches(history: WorkflowHistory) -> tuple[list[str], set[str]]:
    """The activities the run scheduled, in order, and the patches it marked (``workflow.patched``)."""
    scheduled, patches = [], set()
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled.append(event.activity_task_scheduled_event_attributes.activity_type.name)
        marker = event.marker_recorded_event_attributes
        if event.HasField("marker_recorded_event_attributes") and marker.marker_name == "core_patch":
            patches.add(json.loads(marker.details["patch-data"].payloads[0].data)["id"])
    return scheduled, patches
