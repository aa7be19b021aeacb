//! `POST /api/chat/completions`.
//!
//! From the browser (a `session_id` plus a chat) the request is answered at
//! once with task ids; one background task per selected model calls the
//! provider, streams the answer to the user's sockets and persists it when it
//! ends. Without a session the endpoint behaves like OpenAI's.

use serde_json::{json, Map, Value};

use super::events::Emitter;
use super::history;
use super::rounds::{self, Ending};
use super::tasks::{lock_progress, Progress};
use super::tools::{ToolBox, ToolCx};
use super::turn::{Target, Turn};
use super::{background, compaction, params, persist, pipeline_filters};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::llm::{self, ResolvedModel};
use crate::state::AppState;

/// What a completion request comes to. The HTTP layer answers with it; the
/// automations read the text out of it.
pub enum Answer {
    /// A browser turn: one background task per reply streams to the user's
    /// sockets; the request is answered with their ids at once.
    Started {
        chat_id: String,
        task_ids: Vec<String>,
    },
    /// An API client's turn in a saved chat without a socket session: the
    /// answers are stored in the chat before the request is answered (`null`).
    Stored,
    /// A whole OpenAI `chat.completion`.
    Completion(Value),
    /// The provider's answer as it came (OpenAI connections), or our
    /// `chat.completion.chunk` event stream (other providers, streamed).
    Relay(llm::Relay),
}

pub(super) fn str_field<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Providers report token counts of a stream only when asked; ask for the
/// models whose `usage` capability is ticked, as upstream does.
pub(super) fn ask_for_usage(resolved: &ResolvedModel, request: &mut Value) {
    let wanted = resolved
        .model_item
        .pointer("/info/meta/capabilities/usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if wanted && request.get("stream") == Some(&Value::Bool(true)) {
        if !request.get("stream_options").is_some_and(Value::is_object) {
            request["stream_options"] = json!({});
        }
        request["stream_options"]["include_usage"] = json!(true);
    }
}

/// [`llm::resolve`] for a chat completion: a model that does not exist and
/// one the caller may not use are refused alike (400 "Model not found"), so
/// the answer does not tell which models exist.
pub(super) async fn resolve_for_chat(
    state: &AppState,
    caller: &Caller,
    model: &str,
    body: &Map<String, Value>,
) -> ApiResult<ResolvedModel> {
    if let Some(r) = direct_model(body, model) {
        return Ok(r);
    }
    llm::resolve(state, caller, model).await.map_err(|e| {
        if matches!(e.status().as_u16(), 403 | 404) {
            ApiError::bad_request("Model not found")
        } else {
            e
        }
    })
}

/// The request's own `model_item` when it names `model` as a model of the
/// caller's direct connection: no connection of the server is involved, the
/// caller's tab answers (`chat::direct`).
fn direct_model(body: &Map<String, Value>, model: &str) -> Option<ResolvedModel> {
    let item = body.get("model_item").filter(|i| {
        i.get("direct").and_then(Value::as_bool) == Some(true)
            && i.get("id").and_then(Value::as_str) == Some(model)
    })?;
    Some(ResolvedModel {
        id: model.to_string(),
        target: llm::ModelTarget {
            provider: llm::Provider::OpenAi,
            base_url: String::new(),
            api_key: None,
            upstream_id: model.to_string(),
            url_idx: 0,
            api_config: json!({}),
        },
        model_item: item.clone(),
        params: json!({}),
        selected_model_id: None,
        controls: json!({}),
        direct: true,
    })
}

/// The workspace model's system prompt goes first, and the request's
/// `variables` are filled into the leading system message. (Params are
/// applied by [`llm::apply_model_params`] with [`params::turn_params`].)
pub(super) fn apply_model_defaults(
    resolved: &ResolvedModel,
    messages: &mut Vec<Value>,
    vars: Option<&Value>,
) {
    if let Some(system) = resolved.params.get("system").and_then(Value::as_str) {
        history::prepend_system(messages, system);
    }
    if let (Some(Value::Object(vars)), Some(first)) = (vars, messages.first_mut()) {
        if first.get("role").and_then(Value::as_str) == Some("system") {
            let text = history::message_text(first);
            first["content"] = Value::String(history::substitute(&text, vars));
        }
    }
}

pub(super) fn targets_of(body: &Map<String, Value>, model: &str) -> ApiResult<Vec<Target>> {
    match body.get("message_ids") {
        Some(Value::Array(list)) if !list.is_empty() => list
            .iter()
            .map(|e| {
                let model_id = e.get("model_id").and_then(Value::as_str).unwrap_or(model);
                let message_id = e.get("message_id").and_then(Value::as_str).ok_or_else(|| {
                    ApiError::bad_request("Each entry of `message_ids` needs a `message_id`.")
                })?;
                Ok(Target {
                    model_id: model_id.to_string(),
                    message_id: message_id.to_string(),
                    model_idx: e.get("modelIdx").cloned(),
                })
            })
            .collect(),
        Some(Value::Object(map)) => Ok(map
            .iter()
            .filter_map(|(m, id)| {
                Some(Target {
                    model_id: m.clone(),
                    message_id: id.as_str()?.to_string(),
                    model_idx: None,
                })
            })
            .collect()),
        _ => {
            let id = str_field(body, "id")
                .map(str::to_string)
                .unwrap_or_else(crate::db::new_id);
            Ok(vec![Target {
                model_id: model.to_string(),
                message_id: id,
                model_idx: None,
            }])
        }
    }
}

/// How a turn runs besides what its request says.
#[derive(Default)]
pub(super) struct Run {
    /// Answer only once the replies are stored.
    pub wait: bool,
    pub internal: bool,
    pub max_rounds: Option<usize>,
}

/// A turn the server starts itself ([`super::launch`]), in a stored chat.
pub fn launch(state: AppState, launch: super::launch::Launch) -> super::launch::LaunchFuture {
    Box::pin(async move {
        let Value::Object(body) = launch.body else {
            return Err(ApiError::bad_request("The request must be an object."));
        };
        let model = str_field(&body, "model").unwrap_or_default().to_string();
        let chat_id = str_field(&body, "chat_id").map(str::to_string);
        let session_id = str_field(&body, "session_id").map(str::to_string);
        let run = Run {
            wait: launch.wait,
            internal: launch.internal,
            max_rounds: launch.max_rounds,
        };
        let caller = launch.caller;
        start_in_background(state, caller, body, model, chat_id, session_id, run).await?;
        Ok(())
    })
}

pub(super) async fn start_in_background(
    state: AppState,
    caller: Caller,
    body: Map<String, Value>,
    model: String,
    chat_id: Option<String>,
    session_id: Option<String>,
    run: Run,
) -> ApiResult<Answer> {
    let targets = targets_of(&body, &model)?;
    // Fail fast on models the caller cannot use, before anything is stored.
    let picks = params::picks_of(&body)?;
    for t in &targets {
        let resolved = resolve_for_chat(&state, &caller, &t.model_id, &body).await?;
        params::check_picks(
            &resolved.controls,
            picks.get(&resolved.id).unwrap_or(&Value::Null),
        )?;
    }
    let new_chat = chat_id.is_none();
    let chat_id = chat_id.unwrap_or_else(crate::db::new_id);
    // Temporary chats are not stored; a channel turn writes into its channel
    // message through the emitter instead.
    let persist = super::tools::is_saved_chat_id(&chat_id);
    let user_message = body.get("user_message").cloned().filter(Value::is_object);
    let user_message_id = user_message
        .as_ref()
        .and_then(|m| m.get("id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let emitter = Emitter::new(
        &state,
        &caller.user.id,
        &chat_id,
        user_message_id.as_deref().unwrap_or(""),
        session_id.as_deref(),
    );

    let mut folder_id = str_field(&body, "folder_id").map(str::to_string);
    if persist {
        if new_chat {
            persist::create_chat(
                &state,
                &caller,
                &chat_id,
                user_message.as_ref(),
                &targets,
                folder_id.as_deref(),
                &body,
            )
            .await?;
        } else {
            let existing = persist::load_chat(&state, &caller, &chat_id).await?;
            folder_id = existing.folder_id.clone();
            if let Some(continued) = str_field(&body, "assistant_message_id") {
                if targets.iter().any(|t| t.message_id != continued) {
                    return Err(ApiError::bad_request("Invalid response ID."));
                }
            } else {
                let turn = persist::insert_turn(
                    &state,
                    &caller,
                    &chat_id,
                    user_message.as_ref(),
                    &targets,
                )
                .await?;
                emitter.emit_shared("chat:messages", turn).await;
                let from_user = user_message
                    .as_ref()
                    .is_some_and(|m| m.pointer("/meta/internal") != Some(&Value::Bool(true)))
                    && !run.internal;
                if from_user {
                    super::timers::cancel_for_chat(
                        &state,
                        &chat_id,
                        "chat.user_message",
                        &caller.user.id,
                    )
                    .await;
                }
            }
        }
        emitter
            .emit(
                "chat:list",
                json!({"chat_id": chat_id, "folder_id": folder_id}),
            )
            .await;
    }

    let mut task_ids = Vec::with_capacity(targets.len());
    let mut running = Vec::with_capacity(targets.len());
    for target in targets {
        let turn = Turn {
            caller: caller.clone(),
            chat_id: chat_id.clone(),
            persist,
            new_chat,
            folder_id: folder_id.clone(),
            session_id: session_id.clone(),
            user_message_id: user_message_id.clone(),
            body: body.clone(),
            resumed: Vec::new(),
            internal: run.internal,
            max_rounds: run.max_rounds,
        };
        let (task_id, handle) = spawn_reply(&state, turn, target).await?;
        running.push(handle);
        task_ids.push(task_id);
    }
    if run.wait {
        // The tasks keep running if the client goes away; the answer is
        // stored either way.
        for handle in running {
            if let Err(e) = handle.await {
                tracing::error!(error = %e, chat = %chat_id, "a stored turn's task ended abnormally");
            }
        }
        return Ok(Answer::Stored);
    }
    Ok(Answer::Started { chat_id, task_ids })
}

/// Registers a reply's task (stop, reload) and starts it.
pub(super) async fn spawn_reply(
    state: &AppState,
    turn: Turn,
    target: Target,
) -> ApiResult<(String, tokio::task::JoinHandle<()>)> {
    let task_id = crate::db::new_id();
    let (cancel, progress) = state.tasks.register(
        &task_id,
        Some(&turn.chat_id),
        &turn.caller.user.id,
        Some(&target.message_id),
    );
    if turn.persist {
        persist::save_message(
            state,
            &turn.chat_id,
            &target.message_id,
            json!({"meta": {"task_id": task_id}}),
            false,
        )
        .await?;
    }
    lock_progress(&progress).seed(&turn.resumed);
    let st = state.clone();
    let tid = task_id.clone();
    let handle = tokio::spawn(async move {
        // Reports of background helpers that came in meanwhile are answered
        // once a stored chat's turn ends.
        let after = (turn.persist && !turn.internal).then(|| {
            let run = super::subagents::run_context(
                &target.model_id,
                turn.session_id.as_deref(),
                &turn.body,
            );
            (turn.caller.clone(), turn.chat_id.clone(), run)
        });
        {
            let _guard = st.tasks.guard(&tid);
            generate(st.clone(), turn, target, cancel, progress).await;
        }
        if let Some((caller, chat_id, run)) = after {
            super::subagents::after_turn(&st, &caller, &chat_id, run).await;
        }
    });
    Ok((task_id, handle))
}

/// How a reply ended, for callers that wait for it ([`super::api_turn`]).
pub(super) struct Finished {
    pub content: String,
    pub usage: Option<Value>,
    /// The error text of a failed reply.
    pub failure: Option<String>,
}

pub(super) async fn generate(
    state: AppState,
    turn: Turn,
    target: Target,
    cancel: tokio_util::sync::CancellationToken,
    progress: Progress,
) -> Finished {
    let emitter = Emitter::new(
        &state,
        &turn.caller.user.id,
        &turn.chat_id,
        &target.message_id,
        turn.session_id.as_deref(),
    );
    emitter
        .emit(
            "chat:active",
            json!({"active": true, "folder_id": turn.folder_id}),
        )
        .await;

    let title_task = (turn.persist
        && turn.new_chat
        && background::wanted(&state, &turn.body, "title_generation", "task.title.enable"))
    .then(|| {
        let (st, t, em, model) = (
            state.clone(),
            turn.clone(),
            emitter.clone(),
            target.model_id.clone(),
        );
        tokio::spawn(async move { background::title(&st, &t, &em, &model).await })
    });

    let mut usage: Option<Value> = None;
    let mut sources: Vec<Value> = Vec::new();
    let ending = match prepare(&state, &turn, &target, &emitter).await {
        Err(e) => Ending::Failed(e),
        Ok((resolved, mut request, compactor)) => 'turn: {
            let mut tools = ToolBox::for_turn(&state, &turn, &resolved, &target.message_id).await;
            for why in tools.unreachable() {
                let status = json!({"action": "tool_connection", "description": why,
                    "error": true, "done": true});
                emitter.emit("status", status).await;
            }
            if let Some(messages) = request["messages"].as_array_mut() {
                for text in tools.instructions() {
                    history::append_system(messages, text);
                }
            }
            let cx = ToolCx {
                state: &state,
                caller: &turn.caller,
                chat_id: &turn.chat_id,
                message_id: &target.message_id,
                model_id: &target.model_id,
                session_id: turn.session_id.as_deref(),
                files: turn.body.get("files").unwrap_or(&Value::Null),
                approval: super::approval::mode(&state, &turn),
                body: &turn.body,
                internal: turn.internal,
                max_rounds: turn.max_rounds,
            };
            // Calls the user approved while the reply was paused run first.
            if !turn.resumed.is_empty() {
                match rounds::run_approved(&emitter, &progress, &tools, &cx).await {
                    None => {}
                    Some(rounds::RoundOutcome::Paused) => break 'turn Ending::Paused,
                    Some(rounds::RoundOutcome::Ran) => {
                        let replayed = super::replay::output_to_messages(&turn.resumed).len();
                        let items = lock_progress(&progress).items("in_progress");
                        let now = items.as_array().map(Vec::as_slice).unwrap_or_default();
                        if let Some(msgs) = request["messages"].as_array_mut() {
                            let from = msgs.len().saturating_sub(replayed);
                            msgs.truncate(from);
                            msgs.extend(super::replay::output_to_messages(now));
                            let (st, who) = (&state, &turn.caller);
                            super::media::inline_own_images(st, who, &mut msgs[from..]).await;
                        }
                    }
                }
            }
            // Prompt-based calling: the task model picks the tools first and
            // their results become cited context.
            let mut picked = if tools.prompt_based() {
                let msgs = request["messages"].as_array().cloned().unwrap_or_default();
                super::tools::legacy::run(&tools, &cx, &target.model_id, &msgs).await
            } else {
                Vec::new()
            };
            // The web search switch in legacy mode: found pages are cited context too.
            let (st, em) = (&state, &emitter);
            picked.extend(
                super::web_search::apply(st, &turn, &target, em, &resolved, &request).await,
            );
            // RAG (crate::rag::context): passages into the prompt, citations to the UI.
            let with_note = super::note_files::with_note_files(&state, &turn).await;
            let b = with_note.as_ref().unwrap_or(&turn.body);
            let (c, f) = (&turn.caller, turn.folder_id.as_deref());
            let m = &resolved.model_item;
            let question = last_user_text(&request);
            sources = crate::rag::context::apply(&state, c, b, f, m, &mut request, picked).await;
            tools.set_question(question, &sources);
            if !sources.is_empty() {
                let count = crate::rag::context::source_count(&sources);
                let status = json!({"action": "sources_retrieved", "count": count, "done": true});
                emitter.emit("status", status).await;
                emitter
                    .emit("chat:completion", json!({"sources": sources}))
                    .await;
            }
            super::imaging::apply(&state, &turn, &target, &emitter, &resolved, &mut request).await;
            let code_blocks = super::code_round::prepare(&state, &turn, m, &mut request).await;
            let none = ToolBox::default();
            let tools = if tools.prompt_based() { &none } else { &tools };
            if !tools.is_empty() {
                request["tools"] = tools.specs();
            }
            let (em, req) = (&emitter, request);
            let compactor = Some(&compactor);
            let mut tags = super::think::tags_from_params(
                turn.body
                    .get("params")
                    .and_then(|p| p.get("reasoning_tags")),
            );
            tags.extend(code_blocks);
            rounds::run(
                em, &resolved, req, &progress, &mut usage, &cancel, tools, &cx, compactor, &tags,
            )
            .await
        }
    };

    let title = match title_task {
        Some(h) => h.await.ok().flatten(),
        None => None,
    };

    let status = match ending {
        Ending::Completed => "completed",
        Ending::Paused => "in_progress",
        _ => "incomplete",
    };
    let (output, content) = {
        let mut out = lock_progress(&progress);
        if !matches!(ending, Ending::Paused) {
            out.trim_last_text();
        }
        // Sources the provider cited (Responses API connections).
        sources.extend(out.citations().iter().cloned());
        (out.items(status), out.content())
    };
    let paused = matches!(ending, Ending::Paused);
    let mut fields = json!({"done": !paused, "content": content, "output": output});
    if !sources.is_empty() {
        fields["sources"] = Value::Array(sources);
    }
    if let Some(u) = &usage {
        fields["usage"] = u.clone();
    }
    if let Ending::Failed(msg) = &ending {
        fields["error"] = json!({"content": msg});
    }
    if paused {
        // What the reply needs to go on once the user has answered.
        let mut meta = Map::new();
        for k in super::turn::KEPT_KEYS {
            if let Some(v) = turn.body.get(k) {
                meta.insert(k.to_string(), v.clone());
            }
        }
        if let Some(s) = &turn.session_id {
            meta.insert("session_id".into(), json!(s));
        }
        fields["meta"] = Value::Object(meta);
    }
    if turn.persist {
        if let Err(e) = persist::save_message(
            &state,
            &turn.chat_id,
            &target.message_id,
            fields.clone(),
            false,
        )
        .await
        {
            tracing::error!(error = %e, chat = %turn.chat_id, "could not save the finished message");
        }
        emitter
            .emit(
                "chat:list",
                json!({"chat_id": turn.chat_id, "folder_id": turn.folder_id}),
            )
            .await;
    }

    let failure = match &ending {
        Ending::Failed(msg) => Some(msg.clone()),
        _ => None,
    };
    match ending {
        Ending::Completed => {
            let mut done = json!({"done": true, "output": output, "content": content});
            if let Some(t) = &title {
                done["title"] = json!(t);
            }
            if let Some(u) = &usage {
                done["usage"] = u.clone();
            }
            emitter.emit("chat:completion", done).await;
            pipeline_filters::outlet_for_turn(&state, &turn, &target, &emitter).await;
            super::announce::finished(&state, &turn, &target, title.as_deref(), &content).await;
            if background::wanted(
                &state,
                &turn.body,
                "follow_up_generation",
                "task.follow_up.enable",
            ) {
                background::follow_ups(&state, &turn, &emitter, &target.model_id).await;
            }
            if turn.persist
                && turn.new_chat
                && background::wanted(&state, &turn.body, "tags_generation", "task.tags.enable")
            {
                background::tags(&state, &turn, &emitter, &target.model_id).await;
            }
        }
        Ending::Cancelled => {
            emitter
                .emit("chat:tasks:cancel", json!({"output": output}))
                .await;
        }
        Ending::Paused => {
            // The question is on screen; the answer resumes the turn.
            emitter
                .emit(
                    "chat:completion",
                    json!({"output": output, "content": content}),
                )
                .await;
        }
        Ending::Failed(msg) => {
            super::announce::failed(&state, &turn, &target, &msg);
            emitter
                .emit("chat:completion", json!({"done": true, "error": {"content": msg}, "output": output, "content": content}))
                .await;
        }
    }
    emitter
        .emit(
            "chat:active",
            json!({"active": false, "folder_id": turn.folder_id}),
        )
        .await;
    Finished {
        content,
        usage,
        failure,
    }
}

/// Resolves the model and builds the provider request for this turn.
async fn prepare(
    state: &AppState,
    turn: &Turn,
    target: &Target,
    emitter: &Emitter,
) -> Result<(ResolvedModel, Value, compaction::LoopCompactor), String> {
    let resolved = match direct_model(&turn.body, &target.model_id) {
        Some(r) => r,
        None => llm::resolve(state, &turn.caller, &target.model_id)
            .await
            .map_err(|e| e.to_string())?,
    };
    let mut summary = None;
    let mut messages = if turn.persist {
        let path = persist::stored_path(state, &turn.chat_id, &target.message_id)
            .await
            .map_err(|e| e.to_string())?;
        let kept = compact_for_turn(state, turn, target, &resolved, emitter, path).await;
        summary = kept.summary;
        history::to_upstream_messages_with(
            &kept.messages,
            Some(&resolved.id),
            file_context(turn, &resolved),
            super::replay::reasoning_field(&resolved.model_item),
        )
    } else {
        persist::request_messages(turn)
    };
    // A reply that goes on after a tool call was answered: what it said and
    // called so far comes first.
    messages.extend(super::replay::output_to_messages(&turn.resumed));
    // The browser sends the user's / chat's system prompt as a leading system message.
    if turn.persist {
        if let Some(sys) = browser_system_prompt(turn) {
            history::prepend_system(&mut messages, &sys);
        }
        if let Some(folder_system) = persist::folder_system_prompt(state, turn).await {
            history::prepend_system(&mut messages, &folder_system);
        }
    }
    let skill_ids = skill_ids_of(&turn.body, &resolved.model_item, &messages);
    if !skill_ids.is_empty() {
        let (blocks, found) =
            crate::workspace::skills::skill_system_blocks(state, &turn.caller, &skill_ids)
                .await
                .map_err(|e| e.to_string())?;
        for block in blocks {
            history::append_system(&mut messages, &block);
        }
        super::request_text::mentions_to_labels(&mut messages, &found, turn.body.get("files"));
    }
    let picks = params::picks_of(&turn.body).map_err(|e| e.to_string())?;
    let turn_params = params::turn_params(&resolved, turn.body.get("params"), &picks)
        .map_err(|e| e.to_string())?;
    let mut upstream = Map::new();
    apply_model_defaults(&resolved, &mut messages, turn.body.get("variables"));
    super::request_text::user_variables(&mut messages, &turn.caller);
    let chat_vars = persist::owner_chat_variables(state, turn).await;
    super::request_text::chat_variables(&mut messages, chat_vars.as_ref());
    if let Some(summary) = &summary {
        compaction::plan::add_summary_to_system(&mut messages, summary);
    }
    super::media::inline_own_images(state, &turn.caller, &mut messages).await;
    let threshold = chat_threshold(turn, &resolved);
    let compactor =
        compaction::LoopCompactor::new(&turn.chat_id, &target.model_id, threshold, summary);
    upstream.insert("model".into(), json!(resolved.target.upstream_id));
    upstream.insert("messages".into(), Value::Array(messages));
    // The server streams from its own providers whatever the browser asked;
    // a tab running a direct connection gets the browser's own choice.
    let stream = !resolved.direct || turn.body.get("stream") != Some(&Value::Bool(false));
    upstream.insert("stream".into(), json!(stream));
    let mut request = Value::Object(upstream);
    llm::apply_model_params(&turn_params, &mut request, false);
    ask_for_usage(&resolved, &mut request);
    let request = pipeline_filters::inlet_for_turn(state, turn, target, &resolved, request).await?;
    Ok((resolved, request, compactor))
}

/// The stored branch from its newest summary checkpoint on, compacted first
/// when it has grown past the chat's threshold ([`compaction::for_turn`]).
async fn compact_for_turn(
    state: &AppState,
    turn: &Turn,
    target: &Target,
    resolved: &ResolvedModel,
    emitter: &Emitter,
    path: Vec<Value>,
) -> compaction::TurnContext {
    let chat_threshold = chat_threshold(turn, resolved);
    let mut system = browser_system_prompt(turn).unwrap_or_default();
    if let Some(model_system) = resolved.params.get("system").and_then(Value::as_str) {
        system = format!("{model_system}\n{system}");
    }
    let input = compaction::TurnInput {
        chat_id: &turn.chat_id,
        path,
        system_prompt: &system,
        chat_threshold: chat_threshold.as_ref(),
        model_id: &target.model_id,
    };
    compaction::for_turn(state, &turn.caller, emitter, input).await
}

/// The turn's own compaction threshold: the model's, else the request's.
fn chat_threshold(turn: &Turn, resolved: &ResolvedModel) -> Option<Value> {
    let own = |v: Option<&Value>| v.filter(|t| !t.is_null()).cloned();
    own(resolved.params.get("compact_token_threshold")).or_else(|| {
        own(turn
            .body
            .get("params")
            .and_then(|p| p.get("compact_token_threshold")))
    })
}

/// Whether the files attached to the user's messages are listed for the
/// model: in a stored chat where the model gets the built-in tools, which
/// can open them.
fn file_context(turn: &Turn, resolved: &ResolvedModel) -> bool {
    turn.persist && super::tools::wanted(turn, &resolved.model_item)
}

/// The text of the request's last user message.
fn last_user_text(request: &Value) -> Option<String> {
    request["messages"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(history::message_text)
}

/// The user's or chat's system prompt, sent by the browser as a leading system message.
fn browser_system_prompt(turn: &Turn) -> Option<String> {
    turn.body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.first())
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("system"))
        .map(history::message_text)
}

/// Skills for this turn: chosen in the request, attached to the model
/// (`info.meta.skillIds`), or mentioned as `<$id|label>` in the last user message.
fn skill_ids_of(body: &Map<String, Value>, model_item: &Value, messages: &[Value]) -> Vec<String> {
    let strings = crate::json::str_list;
    let mut ids = strings(body.get("skill_ids"));
    ids.extend(strings(model_item.pointer("/info/meta/skillIds")));
    if let Some(last_user) = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
    {
        ids.extend(crate::workspace::skills::mentioned_skill_ids(
            &history::message_text(last_user),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    ids
}
