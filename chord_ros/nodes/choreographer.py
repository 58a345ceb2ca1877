"""`choreographer`: the Choreograph action server over chord_core's distillation (paper §3).

A goal carries the prompt and one PointCloud2 per object; the node runs `chord_core.distill.pipeline` in
a worker thread, forwards its progress as feedback at `feedback_rate` Hz, and answers with the
ObjectFlow (also published on /chord/flow for the planner and the recorder).

Policies (README "Nodes"):
* one goal at a time: a goal arriving while another runs is rejected; cancel the running one first;
* an invalid goal (empty prompt or cloud, NaN points, names not matching clouds; with the mini
  teacher a command without any word of its motion vocabulary) is accepted and aborted at once
  with `success=false` and the reason in `message`, so the client learns why;
* cancel: the goal is reported cancelled at once (the execute loop looks for a cancel every
  CANCEL_POLL s); the loop stops at the end of its current iteration (a GPU iteration can take
  ~36 s) and writes its checkpoint. One goal sent meanwhile is accepted and waits for it (feedback
  phase "waiting", up to `stop_wait` s), so an operator's next command is not refused;
* size limits: a cloud of more than `max_points_per_cloud` points or a prompt of more than
  `max_command_chars` characters is aborted with the reason before any work; after each run the
  node hands the run's memory back to the system (`release_memory`).

Teachers: mini (default) is the shipped text-driven prior, on CPU, with a fixed motion vocabulary;
wan is Wan 2.2 from local weights (open vocabulary, GPU); reference follows a known target motion
and ignores the words (a measurable test instrument). A learned teacher (mini, wan) is loaded at
the first goal and kept for the next ones.

With Wan it runs wherever the GPU is: on the robot's computer or an offboard machine on the same
ROS_DOMAIN_ID; clouds and flows travel inside the action messages, so nothing else is shared.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from chord_core.distill.pipeline import DEFAULT_PRESETS
from chord_core.distill.presets import load_preset
from chord_core.errors import ChordError
from chord_core.formats.scans import Scan
from chord_core.prior.vocabulary import check_command, tokenize
from chord_core.view.live import LiveView
from chord_msgs.action import Choreograph
from chord_msgs.msg import ObjectFlow
from chord_ros import names
from chord_ros.command_client import goal_scans
from chord_ros.convert import flow_to_msg
from chord_ros.frames import declare_frames
from chord_ros.graph import MINI_VOCABULARY, TEACHERS
from chord_ros.memory import release_memory
from chord_ros.node_params import declare, latched_qos
from chord_ros.nodes.runner import run_node

#: What the startup log and results say about each teacher.
TEACHER_NOTES = {
    "mini": f" (text-driven on CPU with a fixed vocabulary: it understands {MINI_VOCABULARY})",
    "wan": " (Wan 2.2: text-driven, open vocabulary)",
    "reference": " (reference teacher: follows the known target motion, not the prompt)",
}

#: Seconds between the execute loop's looks for a cancel request: how late a cancel is answered.
CANCEL_POLL = 0.05
#: The feedback phase of a goal waiting for a cancelled run to stop.
WAITING = "waiting for the cancelled goal to stop"
#: The result message of a goal ended by the node's shutdown.
SHUTTING_DOWN = "the choreographer is shutting down"


@dataclass
class RunState:
    """What the worker thread shares with the action callback (guarded by `lock`)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    cancel: threading.Event = field(default_factory=threading.Event)
    feedback: Choreograph.Feedback = field(default_factory=Choreograph.Feedback)
    flow: ObjectFlow | None = None
    error: str = ""
    iterations: int = 0

    def report(self, progress) -> None:
        """Distiller progress callback -> the next feedback message."""
        with self.lock:
            fb = self.feedback
            fb.iteration, fb.total_iterations = progress.iteration, progress.total
            fb.phase = "export" if progress.iteration >= progress.total else progress.phase
            fb.loss_names = list(progress.losses)
            fb.loss_values = [float(v) for v in progress.losses.values()]
            fb.eta = float(progress.eta)
            self.iterations = progress.iteration

    def snapshot(self) -> Choreograph.Feedback:
        with self.lock:
            fb = self.feedback
            return Choreograph.Feedback(iteration=fb.iteration, total_iterations=fb.total_iterations,
                                        phase=fb.phase, loss_names=list(fb.loss_names),
                                        loss_values=list(fb.loss_values), eta=fb.eta)


class Choreographer(Node):
    def __init__(self) -> None:
        super().__init__("choreographer")
        self.action_name = declare(self, "action_name", names.CHOREOGRAPH_ACTION, "Choreograph action to serve")
        self.flow_topic = declare(self, "flow_topic", names.FLOW_TOPIC, "where every distilled ObjectFlow is published")
        self.teacher = declare(self, "teacher", "mini",
                               "mini: the shipped text-driven prior on CPU (a fixed motion vocabulary); "
                               "wan: Wan 2.2 from model_dir (open vocabulary, GPU); reference: the known target "
                               "motion in reference_motion (a measurable test instrument that ignores the words)")
        self.preset = declare(self, "preset", "",
                              "default preset (mini | cpu-test | gpu-5b | gpu-14b | a .yaml); empty = the "
                              "teacher's own (mini: mini; wan, reference: cpu-test); a goal may name another")
        self.model_dir = declare(self, "model_dir", "",
                                 "teacher wan: local diffusers Wan 2.2 directory; teacher mini: a mini_prior.pt "
                                 "from `chord prior train` (empty = the shipped weights)")
        self.reference_motion = declare(self, "reference_motion", "",
                                        "motion.npz for teacher reference; labels follow the goal's clouds in order")
        self.device = declare(self, "device", "", "cpu | cuda; empty = the preset's device")
        self.negative_prompt = declare(self, "negative_prompt", "",
                                       "text the teacher's guidance steers away from; empty = the preset's (its "
                                       "empty = the teacher's own: Wan 2.2's default negative prompt for wan)")
        self.work_dir = declare(self, "work_dir", "",
                                "runs go to <work_dir>/<time>_<goal>; empty = ~/.ros/chord_runs")
        self.feedback_rate = declare(self, "feedback_rate", 2.0, "feedback messages per second (>= 1)")
        self.stop_wait = declare(self, "stop_wait", 60.0,
                                 "seconds a goal accepted while a cancelled run is still stopping (it ends at its "
                                 "current iteration) waits for it before it is aborted")
        self.max_points_per_cloud = declare(self, "max_points_per_cloud", 500000,
                                            "goals with a larger cloud are aborted with the reason (memory grows "
                                            "with the points; down-sample upstream)")
        self.max_command_chars = declare(self, "max_command_chars", 500,
                                         "goals with a longer prompt are aborted with the reason")
        self.frames = declare_frames(self, "goal clouds are moved into it, flows are published in it", "clouds")
        self.frame_id = self.frames.planning_frame
        self.write_views = declare(self, "write_views", True,
                                   "render views.mp4 of each run for people (CPU: tens of seconds per run)")
        self.view_port = declare(self, "view_port", 0,
                                 "watch each run's flow form in the 3D viewer (`chord view`) at "
                                 "http://<view_host>:<view_port>; 0 = no viewer")
        self.view_host = declare(self, "view_host", "127.0.0.1", "the viewer's address; 0.0.0.0 = every interface")
        self.view_every = declare(self, "view_every", 20, "iterations between viewer updates")
        self._validate()
        self._live = LiveView(self.view_port, self.view_host, self.get_logger().info) if self.view_port else None
        self._busy = threading.Lock()
        self._running: RunState | None = None  # the goal close() stops
        self._admit = threading.Lock()  # guards _queued
        self._queued: Choreograph.Goal | None = None  # accepted while a cancelled run stops; waits for it
        self._closing = threading.Event()
        self._teachers: dict[tuple, object] = {}  # the loaded mini or Wan teacher; one at a time (memory)
        self._flow_pub = self.create_publisher(ObjectFlow, self.flow_topic, latched_qos())
        self._server = ActionServer(self, Choreograph, self.action_name, execute_callback=self._execute,
                                    goal_callback=self._on_goal, cancel_callback=lambda _: CancelResponse.ACCEPT,
                                    callback_group=ReentrantCallbackGroup())
        self.get_logger().info(f"serving {self.action_name}: teacher {self.teacher}{TEACHER_NOTES[self.teacher]}, "
                               f"preset {self.preset}")
        if self.teacher == "mini" and not self.model_dir:
            from chord_core.prior.weights import SHIPPED_WEIGHTS

            if not SHIPPED_WEIGHTS.is_file():  # goals abort with the same advice until they exist
                self.get_logger().warning(f"the shipped mini prior weights {SHIPPED_WEIGHTS} are missing; rebuild "
                                          "them with `chord prior train` or pass model_dir:=PATH/mini_prior.pt")

    def _validate(self) -> None:
        if self.teacher not in TEACHERS:
            raise ChordError(f"teacher must be one of {TEACHERS}, got '{self.teacher}'")
        self.preset = self.preset or DEFAULT_PRESETS[self.teacher]
        if self.teacher == "reference" and not Path(self.reference_motion).is_file():
            raise ChordError(f"teacher 'reference' needs reference_motion, a motion.npz file; "
                             f"'{self.reference_motion}' does not exist")
        if self.teacher == "wan" and not Path(self.model_dir).is_dir():
            raise ChordError(f"teacher 'wan' needs model_dir, a local Wan 2.2 directory; "
                             f"'{self.model_dir}' does not exist (see docs/teachers.md)")
        if self.teacher == "mini" and self.model_dir and not Path(self.model_dir).is_file():
            raise ChordError(f"teacher 'mini' takes as model_dir a mini_prior.pt file (empty = the shipped "
                             f"weights); '{self.model_dir}' does not exist")
        if self.device not in ("", "cpu", "cuda"):
            raise ChordError(f"device must be cpu, cuda or empty, got '{self.device}'")
        if self.feedback_rate < 1.0:
            raise ChordError(f"feedback_rate must be >= 1 Hz, got {self.feedback_rate}")
        if self.stop_wait < 0 or min(self.max_points_per_cloud, self.max_command_chars) < 1:
            raise ChordError(f"stop_wait must be >= 0 s and max_points_per_cloud, max_command_chars >= 1, got "
                             f"{self.stop_wait}, {self.max_points_per_cloud}, {self.max_command_chars}")
        if not 0 <= self.view_port <= 65535 or self.view_every < 1:
            raise ChordError(f"view_port must be 0 (off) or a port, view_every >= 1; got {self.view_port}, "
                             f"{self.view_every}")
        load_preset(self.preset).replace(device=self.device or None)

    def _on_goal(self, goal: Choreograph.Goal) -> GoalResponse:
        """Accept when free (the goal takes the one-goal lock), or as the one goal that waits while a
        cancelled run stops (it takes the lock in _execute)."""
        with self._admit:
            if self._queued is None:
                if self._busy.acquire(blocking=False):
                    return GoalResponse.ACCEPT
                running = self._running
                if running is not None and running.cancel.is_set() and not self._closing.is_set():
                    self._queued = goal
                    return GoalResponse.ACCEPT
        self.get_logger().warning("rejecting a goal: another goal is running (one at a time; cancel it first)")
        return GoalResponse.REJECT

    def _dequeue(self, goal: Choreograph.Goal) -> bool:
        """Whether `goal` was the waiting one (then it does not hold the lock); frees the waiting place."""
        with self._admit:
            if self._queued is not goal:
                return False
            self._queued = None
            return True

    def _run_dir(self, goal_handle) -> Path:
        """A new run directory, or the one ``resume_run`` names (it must hold a checkpoint)."""
        root = Path(self.work_dir).expanduser() if self.work_dir else Path.home() / ".ros" / "chord_runs"
        name = goal_handle.request.resume_run
        if not name:
            return root / f"{time.strftime('%Y%m%d_%H%M%S')}_{bytes(goal_handle.goal_id.uuid).hex()[:8]}"
        if Path(name).name != name or name in (".", ".."):
            raise ChordError(f"resume_run must be the name of a run directory under {root}, got '{name}'")
        if not (root / name / "checkpoint.pt").is_file():
            raise ChordError(f"cannot resume '{name}': {root / name} holds no checkpoint.pt")
        return root / name

    def _execute(self, goal_handle) -> Choreograph.Result:
        goal = goal_handle.request
        try:
            scans = goal_scans(goal, self.max_points_per_cloud, self.max_command_chars, self.frames)
            if self.teacher == "mini":  # before any work: the prior only knows its motion words
                check_command(goal.prompt)
                tokenize(goal.prompt)
            preset = load_preset(goal.preset or self.preset).replace(
                frames=goal.frames or None, iterations=goal.iterations or None, device=self.device or None,
                negative_prompt=self.negative_prompt or None)
            out_dir = self._run_dir(goal_handle)
        except ChordError as error:
            if not self._dequeue(goal):
                self._busy.release()
            self.get_logger().error(f"goal aborted: {error}")
            goal_handle.abort()
            return Choreograph.Result(success=False, message=str(error))
        state = RunState()
        state.feedback.total_iterations = preset.iterations
        if self._queued is goal:
            state.feedback.phase = WAITING
            outcome = self._follow(goal_handle, state, lambda t: self._busy.acquire(timeout=t),
                                   time.monotonic() + self.stop_wait)
            self._dequeue(goal)
            if outcome != "finished":
                return self._not_started(goal_handle, outcome)
        state.feedback.phase = "setup"
        worker = threading.Thread(target=self._work, args=(goal, scans, preset, out_dir, state), daemon=True)
        self.get_logger().info(f"goal '{goal.prompt}': {len(scans)} objects, {preset.iterations} iterations "
                               f"of {preset.name} -> {out_dir}" + (" (resumed from its checkpoint)"
                                                                  if goal.resume_run else ""))
        self._running = state
        worker.start()

        def stopped(timeout: float) -> bool:
            worker.join(timeout)
            return not worker.is_alive()

        outcome = self._follow(goal_handle, state, stopped)
        if outcome == "cancel":
            return self._cancel(goal_handle, state, out_dir)
        if outcome == "closing":  # stop the worker (close() may have looked before it was running)
            state.cancel.set()
            return Choreograph.Result(success=False, message=SHUTTING_DOWN)
        if state.error:
            goal_handle.abort()
            return Choreograph.Result(success=False, message=state.error)
        flow_msg = state.flow
        self._flow_pub.publish(flow_msg)
        message = f"flow of {flow_msg.num_points} points over {flow_msg.num_frames} frames; outputs in {out_dir}"
        if self.teacher == "reference":
            message += " (reference teacher: the known target motion, not text-driven)"
        elif self.teacher == "mini":
            message += " (mini teacher: text-driven, fixed motion vocabulary)"
        goal_handle.succeed()
        self.get_logger().info(message)
        return Choreograph.Result(success=True, message=message, flow=flow_msg)

    def _follow(self, goal_handle, state: RunState, finished: Callable[[float], bool],
                deadline: float = float("inf")) -> str:
        """Publish the state as feedback at feedback_rate and look every CANCEL_POLL s for the end:
        'finished' once finished(CANCEL_POLL) is true, else 'cancel', 'closing' or 'timeout' (deadline)."""
        next_feedback = 0.0
        while True:
            if self._closing.is_set() or not self.context.ok():  # Ctrl-C: rclpy's handler shuts the
                return "closing"                                   # context down before close() runs
            if goal_handle.is_cancel_requested:
                return "cancel"
            if time.monotonic() > deadline:
                return "timeout"
            if time.monotonic() >= next_feedback:
                goal_handle.publish_feedback(state.snapshot())
                next_feedback = time.monotonic() + 1.0 / self.feedback_rate
            if finished(CANCEL_POLL):
                return "finished"

    def _not_started(self, goal_handle, outcome: str) -> Choreograph.Result:
        """The end of a goal that was still waiting for a cancelled run to stop."""
        if outcome == "cancel":
            message = "cancelled while waiting for the previous (cancelled) goal to stop; nothing was run"
            goal_handle.canceled()
        elif outcome == "timeout":
            message = (f"the previous (cancelled) goal did not stop within stop_wait ({self.stop_wait:g} s); "
                       "nothing was run, send the goal again")
            goal_handle.abort()
        else:
            return Choreograph.Result(success=False, message=SHUTTING_DOWN)
        self.get_logger().warning(message)
        return Choreograph.Result(success=False, message=message)

    def close(self) -> None:
        """Ctrl-C / shutdown: stop the running distillation at its next iteration, so the executor's
        callback thread (which the interpreter joins at exit) returns instead of waiting out the run."""
        self._closing.set()
        if self._running is not None:
            self._running.cancel.set()
        if not self._busy.acquire(timeout=self.stop_wait + 5.0):  # the worker ends at its next iteration
            self.get_logger().warning("shutting down while a run is still stopping")
        if self._live is not None:
            self._live.close()

    def _cancel(self, goal_handle, state: RunState, out_dir: Path) -> Choreograph.Result:
        """Answer at once; the worker stops at the end of its current iteration and writes the checkpoint."""
        state.cancel.set()
        message = (f"cancelled after {state.iterations} iterations; the run stops at the end of its current "
                   f"iteration and writes its checkpoint {out_dir / 'checkpoint.pt'}")
        goal_handle.canceled()
        self.get_logger().info(message)
        return Choreograph.Result(success=False, message=message)

    def _loaded_teacher(self, preset, state: RunState):
        """The mini or Wan teacher for this preset and device, loaded on first use and kept for later
        goals (loading A14B weights takes minutes); None for the reference teacher, which is per scene.
        Neither depends on the scene. A reused mini teacher is checked against each goal's preset (its
        renders must be those the prior was trained on)."""
        if self.teacher == "reference":
            return None
        from chord_core.distill.pipeline import build_teacher

        key = (self.teacher, preset.teacher if self.teacher == "wan" else "", preset.device)
        if key not in self._teachers:
            with state.lock:
                state.feedback.phase = "loading teacher"
            if self.teacher == "wan":
                self.get_logger().info(f"loading the Wan teacher from {self.model_dir} "
                                       f"({preset.teacher}, {preset.device})")
            else:
                self.get_logger().info(f"loading the mini teacher from {self.model_dir or 'the shipped weights'} "
                                       f"({preset.device})")
            self._teachers = {}  # free the previous model first
            self._teachers[key] = build_teacher(self.teacher, None, preset, model_dir=self.model_dir or None,
                                                device=preset.device)
        teacher = self._teachers[key]
        if self.teacher == "mini":
            from chord_core.prior.clips import ClipSettings

            teacher.check_settings(ClipSettings(preset.camera_arc(), preset.frames, preset.gaussians_per_object))
        return teacher

    def _distil(self, goal, scans: list[Scan], preset, out_dir: Path, state: RunState) -> ObjectFlow:
        """The whole pipeline; only the flow message outlives it (the run's arrays are freed on return)."""
        from chord_core.distill.pipeline import animate

        result = animate(goal.prompt, out_dir, preset, scans=scans, teacher_kind=self.teacher,
                         model_dir=self.model_dir or None, reference_motion=self.reference_motion or None,
                         seed=int(goal.seed), resume=bool(goal.resume_run), progress=state.report,
                         cancel=state.cancel,
                         write_views=self.write_views, teacher=self._loaded_teacher(preset, state),
                         live_flow=self._live.show if self._live else None, live_every=self.view_every)
        return flow_to_msg(result.flow, frame_id=self.frame_id, stamp=self.get_clock().now().to_msg())

    def _work(self, goal, scans: list[Scan], preset, out_dir: Path, state: RunState) -> None:
        """Worker thread: the pipeline; however it ends, frees its memory and the one-goal lock."""
        try:
            state.flow = self._distil(goal, scans, preset, out_dir, state)
        except ChordError as error:
            state.error = str(error)
        except Exception as error:  # keep serving; the traceback goes to the log for the engineer
            self.get_logger().error(traceback.format_exc())
            state.error = f"internal error: {type(error).__name__}: {error}"
        finally:
            if state.error:
                self.get_logger().error(f"goal failed: {state.error}")
            self._running = None
            release_memory()
            self._busy.release()


def main(argv: list[str] | None = None) -> int:
    return run_node(Choreographer, argv, threads=4)


if __name__ == "__main__":
    raise SystemExit(main())
