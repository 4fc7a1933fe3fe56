// The Cakemail API contract as the gateway uses it (docs/cakemail-api.md §2, §3, §7). The sandbox
// validates against the same shapes, so one file states what both sides agree on.

export const ATTACHMENT_TYPES = ['csv', 'doc', 'docx', 'calendar', 'jpeg', 'pdf', 'png', 'xls', 'xlsx'] as const;
export type AttachmentType = (typeof ATTACHMENT_TYPES)[number];

/** `Attachment.filename` pattern from the spec: ASCII base name, one dot, an allowed extension. */
export const ATTACHMENT_FILENAME_PATTERN = /^[a-zA-Z0-9-_]+\.(csv|doc|docx|ics|jpeg|pdf|png|xls|xlsx)$/;
/**
 * `Attachment.content`: strict base64, no line breaks or whitespace. The spec's pattern, kept as
 * the reference: V8 overflows its stack running it on multi-megabyte input, so code checks with
 * `isStrictBase64` (src/sandbox/validate.ts), which a test holds to the same language.
 */
export const STRICT_BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** `tags[]` items: 1–255 characters of letters, digits, `-`, `_`. */
export const TAG_PATTERN = /^[a-zA-Z0-9-_]{1,255}$/;

export type EmailType = 'transactional' | 'marketing';

export interface SubmitEmail {
  email: string;
  list_id?: number;
  contact_id?: number;
  sender: { id: string; name?: string };
  content: {
    subject: string;
    type: EmailType;
    html?: string;
    text?: string;
    template?: { id: number };
    encoding?: 'utf-8';
  };
  tags?: string[];
  tracking?: { opens?: boolean; clicks_html?: boolean; clicks_text?: boolean };
  additional_headers?: { name: string; value: string }[];
  attachment?: { filename: string; type: AttachmentType; content: string }[];
}

export interface SubmitEmailResponse {
  email: string;
  object: string;
  submitted: boolean;
  data: { id: string; status: 'queued' | 'rejected' | 'error' };
}

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  accounts: number[];
}

export interface Sender {
  id: string;
  name: string;
  email: string;
  confirmed: boolean;
  confirmed_on?: number;
  language?: string;
}

export interface SendersPage {
  pagination: { page: number; per_page: number; count?: number };
  data: Sender[];
}

/** `{detail: [...]}` item (FastAPI/pydantic shape). */
export interface ErrorDetail {
  loc?: (string | number)[];
  msg: string;
  type?: string;
  code?: number;
}

/**
 * `GET /v2/logs/emails` (docs/sandbox.md): the Email API activity log. Query parameters as the
 * gateway sends them; `tags` is a JSON-encoded filter, `start_time`/`end_time` are Unix seconds.
 */
export const EMAIL_LOG_TYPES = [
  'all',
  'submitted',
  'queued',
  'delivered',
  'rejected',
  'error',
  'open',
  'click',
  'bounce',
  'spam',
  'unsubscribe',
  'global_unsubscribe',
] as const;
export type EmailLogType = (typeof EMAIL_LOG_TYPES)[number];

export interface EmailLogsQuery {
  tags?: string;
  log_type?: EmailLogType;
  email_id?: string;
  start_time?: number;
  end_time?: number;
  page?: number;
  per_page?: number;
}

export interface EmailLogEntry {
  email_id: string;
  email: string;
  type: Exclude<EmailLogType, 'all'>;
  time: number;
  tags?: string[];
}

export interface EmailLogsPage {
  pagination: { page: number; per_page: number; count?: number };
  data: EmailLogEntry[];
}

/**
 * `GET /v2/emails/{email_id}` (docs/cakemail-api.md §3.3): the email's current status. Only the
 * fields the trace lookup shows are typed; the API returns more.
 */
export interface EmailStatus {
  email_id: string;
  status: string;
  email?: string;
  submitted_time?: number;
  soft_bounced?: boolean;
  hard_bounced?: boolean;
  reported_as_spam?: boolean;
  unsubscribed?: boolean;
  open?: number;
  click?: number;
}
