"""Polyflow's models (DESIGN section 3), one module per object."""

from .action import Action
from .artifact import Artifact
from .build import Build, BuildWaiter
from .event import Event, EventSubscription
from .heartbeat import SchedulerHeartbeat
from .history import OperationRunStatus, PipelineRunStatus
from .pipeline import Operation, Pipeline, PipelineSpecVersion
from .project import AbstractProject, Project, ProjectMember, project_model_name
from .run import MetricPoint, OperationRun, PipelineRun

__all__ = [
    "AbstractProject", "Action", "Artifact", "Build", "BuildWaiter", "Event", "EventSubscription", "MetricPoint",
    "Operation", "OperationRun", "OperationRunStatus", "Pipeline", "PipelineRun", "PipelineRunStatus",
    "PipelineSpecVersion", "Project", "ProjectMember", "SchedulerHeartbeat", "project_model_name",
]
