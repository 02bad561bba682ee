// The errors the server answers with, in the shape of OpenAI's API, so that OpenAI's clients
// raise them as their own error classes (a 400 becomes the openai package's BadRequestError):
//
//   HTTP 400  { "error": { "message": "...", "type": "invalid_request_error", "param": "temperature", "code": null } }
//
// `param` names the request field that is wrong, as a path ("messages.[1].role"), or is null
// when the error is about the request as a whole.

/** An error that becomes an HTTP response with an OpenAI-style error object. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type: 'invalid_request_error' | 'server_error' = status >= 500 ? 'server_error' : 'invalid_request_error',
  ) {
    super(message);
  }

  /** The JSON body of the response. */
  toBody(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A 400 about one field of the request. */
export function invalidField(param: string, message: string, code: string | null = 'invalid_value'): ApiError {
  return new ApiError(400, message, param, code);
}
