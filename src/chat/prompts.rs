//! Our prompt templates for the background tasks. Admins can replace each one
//! in the "Interface" settings (`task.*.prompt_template`); empty means these.
//! Placeholders: `{{MESSAGES:END:6}}` (the last 6 messages as a transcript),
//! `{{USER_NAME}}`, `{{CURRENT_DATE}}`.

pub const TITLE: &str = "Write a short title for the conversation below.\n\
Rules: 3 to 6 words, in the conversation's language, no quotes, at most one emoji, \
describe the topic rather than the greeting.\n\
Reply with JSON only, exactly like {\"title\": \"…\"}.\n\n\
<conversation>\n{{MESSAGES:END:6}}\n</conversation>";

pub const TAGS: &str = "Pick 1 to 3 broad category tags for the conversation below \
(for example Science, Programming, Travel, Cooking, Health, Finance, Writing), plus at most \
2 narrower ones if they clearly help. Use the conversation's language. If nothing fits, use \"General\".\n\
Reply with JSON only, exactly like {\"tags\": [\"…\"]}.\n\n\
<conversation>\n{{MESSAGES:END:6}}\n</conversation>";

pub const FOLLOW_UPS: &str = "Suggest 3 to 5 short follow-up questions the user might ask next, \
written from the user's point of view, relevant to the conversation below and in its language.\n\
Reply with JSON only, exactly like {\"follow_ups\": [\"…\", \"…\"]}.\n\n\
<conversation>\n{{MESSAGES:END:6}}\n</conversation>";

/// Renders `{{MESSAGES:END:n}}` / `{{MESSAGES}}` with a plain transcript.
pub fn render(template: &str, transcript: &[(String, String)], user_name: &str) -> String {
    let lines = |n: usize| {
        let start = transcript.len().saturating_sub(n);
        transcript[start..]
            .iter()
            .map(|(role, text)| format!("{}: {}", role.to_uppercase(), text))
            .collect::<Vec<_>>()
            .join("\n")
    };
    // One pass over the template: the transcript is user text and may itself
    // contain placeholders, which must come out verbatim, not be expanded again.
    const END: &str = "{{MESSAGES:END:";
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    loop {
        let next_end = rest.find(END);
        let next_all = rest.find("{{MESSAGES}}");
        match (next_end, next_all) {
            (Some(i), a) if a.is_none_or(|a| i < a) => {
                let Some(len) = rest[i..].find("}}") else {
                    break;
                };
                let n = rest[i + END.len()..i + len].parse::<usize>().unwrap_or(6);
                out.push_str(&rest[..i]);
                out.push_str(&lines(n));
                rest = &rest[i + len + 2..];
            }
            (_, Some(a)) => {
                out.push_str(&rest[..a]);
                out.push_str(&lines(usize::MAX));
                rest = &rest[a + "{{MESSAGES}}".len()..];
            }
            _ => break,
        }
    }
    out.push_str(rest);
    out = out.replace("{{USER_NAME}}", user_name);
    out.replace(
        "{{CURRENT_DATE}}",
        &chrono::Utc::now().format("%Y-%m-%d").to_string(),
    )
}

/// Finds the first JSON object in a model's answer (models like to wrap it in prose or fences).
pub fn extract_json(answer: &str) -> Option<serde_json::Value> {
    let start = answer.find('{')?;
    let end = answer.rfind('}')?;
    if end < start {
        return None;
    }
    serde_json::from_str(&answer[start..=end]).ok()
}

pub const QUERIES: &str = "From the conversation below, write 1 to 3 concise search queries that \
would find information needed to answer the user's last message. Use the conversation's language; \
if no search is needed, return an empty list.\n\
Reply with JSON only, exactly like {\"queries\": [\"…\"]}.\n\n\
<conversation>\n{{MESSAGES:END:6}}\n</conversation>";

pub const EMOJI: &str = "Reply with exactly one emoji that best expresses the feeling or topic \
of this text, and nothing else:\n\n{{PROMPT}}";

pub const AUTOCOMPLETE: &str = "Continue the user's unfinished input below with the few words they \
most likely want to type next (at most one sentence). Do not repeat the input.\n\
Reply with JSON only, exactly like {\"text\": \"…\"}; use an empty string if unsure.\n\n\
Input type: {{TYPE}}\n<input>{{PROMPT}}</input>\n\n<conversation>\n{{MESSAGES:END:6}}\n</conversation>";

pub const IMAGE_PROMPT: &str =
    "Write one detailed prompt for an image generator that depicts what \
the user asks for in the conversation below: subject, setting, style, lighting, composition.\n\
Reply with JSON only, exactly like {\"prompt\": \"…\"}.\n\n\
<conversation>\n{{MESSAGES:END:6}}\n</conversation>";

/// Merging several models' answers into one ("mixture of agents").
pub const MERGE_ANSWERS: &str = "Several assistants answered the same request. Write one answer \
that keeps what is correct and useful in them, fixes or drops what is wrong, and reads as a single \
voice. Do not mention the assistants or that answers were merged.\n\n\
<request>\n{{PROMPT}}\n</request>\n\n{{RESPONSES}}";

/// Fills [`MERGE_ANSWERS`]: each answer in its own numbered block.
pub fn render_merge(prompt: &str, responses: &[String]) -> String {
    let blocks = responses
        .iter()
        .enumerate()
        .map(|(i, r)| format!("<answer number=\"{}\">\n{}\n</answer>", i + 1, r.trim()))
        .collect::<Vec<_>>()
        .join("\n\n");
    MERGE_ANSWERS
        .replace("{{PROMPT}}", prompt)
        .replace("{{RESPONSES}}", &blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_transcript_window() {
        let t = vec![
            ("user".to_string(), "a".to_string()),
            ("assistant".to_string(), "b".to_string()),
            ("user".to_string(), "c".to_string()),
        ];
        assert_eq!(
            render("{{MESSAGES:END:2}}", &t, "x"),
            "ASSISTANT: b\nUSER: c"
        );
        assert_eq!(render("hi {{USER_NAME}}", &t, "Ann"), "hi Ann");
    }

    #[test]
    fn placeholders_inside_the_transcript_stay_text() {
        // A message that contains a placeholder must not be expanded again
        // (that used to loop for ever, growing the prompt).
        let t = vec![(
            "user".to_string(),
            "{{MESSAGES:END:6}} and {{MESSAGES}} and {{MESSAGES:END:".to_string(),
        )];
        let out = render("<c>{{MESSAGES:END:6}}</c><all>{{MESSAGES}}</all>", &t, "x");
        let line = "USER: {{MESSAGES:END:6}} and {{MESSAGES}} and {{MESSAGES:END:";
        assert_eq!(out, format!("<c>{line}</c><all>{line}</all>"));
        assert_eq!(
            render("open {{MESSAGES:END:3", &t, "x"),
            "open {{MESSAGES:END:3"
        );
    }

    #[test]
    fn merge_numbers_each_answer() {
        let p = render_merge("Why?", &["Because A.".into(), " Because B. ".into()]);
        assert!(p.contains("<request>\nWhy?\n</request>"));
        assert!(p.contains("<answer number=\"1\">\nBecause A.\n</answer>"));
        assert!(p.contains("<answer number=\"2\">\nBecause B.\n</answer>"));
    }

    #[test]
    fn extracts_json_from_chatter() {
        let v = extract_json("Sure! ```json\n{\"title\": \"Tea time\"}\n```").unwrap();
        assert_eq!(v["title"], "Tea time");
        assert!(extract_json("no json").is_none());
    }
}
