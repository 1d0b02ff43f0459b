/* status.c — sp_status names (include/speech.h). */
#include "speech.h"

const char *sp_status_str(sp_status s)
{
    switch (s) {
    case SP_OK:               return "ok";
    case SP_ERR_INVALID_ARG:  return "invalid argument";
    case SP_ERR_IO:           return "i/o error";
    case SP_ERR_MODEL_FORMAT: return "model format error";
    case SP_ERR_NOMEM:        return "out of memory";
    case SP_ERR_UNSUPPORTED:  return "unsupported";
    case SP_ERR_AUDIO_FORMAT: return "audio format error";
    case SP_ERR_AUDIO_UNSAFE: return "audio file refused";
    case SP_ERR_CANCELLED:    return "cancelled";
    case SP_ERR_INTERNAL:     return "internal error";
    case SP_ERR_TOO_LARGE:    return "input too large";
    case SP_ERR_DEVICE:       return "GPU error";
    }
    return "unknown error";
}
