/*
 * kwvk_jni.c - the JNI glue of the Java binding (org.kwvk.Classifier).
 *
 * One native handle holds a model, a context and a net. The Java class checks arguments it
 * can see (nulls, buffer sizes, closed handles) and serialises calls on one handle; this file
 * checks again whatever could make it read outside a Java array or buffer, and turns every
 * failed kwvk call into an org.kwvk.KwvkException with kwvk_last_error()'s message. Uses only
 * jni.h and kwvk.h: it builds the same with a desktop JDK and with the Android NDK.
 */
#include <jni.h>
#include <kwvk.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef KWVK_JNI_CHECK_HEADER
/* javac -h output: the compiler checks that the functions below match the Java declarations */
#include "org_kwvk_Classifier.h"
#endif

typedef struct kj_handle {
    kwvk_model *model;
    kwvk_context *ctx;
    kwvk_net *net;
    kwvk_model_info info;
    uint32_t num_outputs; /* floats per sample of the net's output */
} kj_handle;

/* Classes and methods looked up once in JNI_OnLoad (FindClass on a thread the app attached
 * itself would not see the app's classes on Android). */
static jclass kj_exception_class, kj_label_class;
static jmethodID kj_exception_init, kj_label_init;

/* ---------------------------------------------------------------------------------------- */
/* Strings and exceptions                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* A Java string from UTF-8 bytes; invalid sequences become U+FFFD (NewStringUTF would take
 * only "modified UTF-8" and may abort the VM on anything else). NULL with an exception
 * pending when out of memory. */
static jstring kj_string(JNIEnv *env, const char *s)
{
    if (!s) s = "";
    size_t n = strlen(s);
    jchar *u = malloc((n + 1) * sizeof *u); /* a byte gives at most one UTF-16 unit */
    if (!u) {
        (*env)->ThrowNew(env, (*env)->FindClass(env, "java/lang/OutOfMemoryError"), "kwvk_jni: string");
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    size_t len = 0;
    while (p < end) {
        uint32_t c = *p, need = 0, min = 0;
        if (c < 0x80)
            need = 0;
        else if ((c & 0xe0) == 0xc0)
            need = 1, c &= 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
            need = 2, c &= 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
            need = 3, c &= 0x07, min = 0x10000;
        else
            need = UINT32_MAX;
        size_t i = 1;
        if (need != UINT32_MAX) {
            for (; i <= need && p + i < end && (p[i] & 0xc0) == 0x80; i++)
                c = (c << 6) | (p[i] & 0x3f);
        }
        if (need == UINT32_MAX || i != need + 1 || c < min || c > 0x10ffff || (c >= 0xd800 && c < 0xe000)) {
            u[len++] = 0xfffd; /* one replacement per bad lead byte */
            p += 1;
            continue;
        }
        p += need + 1;
        if (c >= 0x10000) {
            c -= 0x10000;
            u[len++] = (jchar)(0xd800 + (c >> 10));
            u[len++] = (jchar)(0xdc00 + (c & 0x3ff));
        } else {
            u[len++] = (jchar)c;
        }
    }
    jstring js = (*env)->NewString(env, u, (jsize)len);
    free(u);
    return js;
}

static void kj_throw(JNIEnv *env, const char *class_name, const char *message)
{
    jclass c = (*env)->FindClass(env, class_name);
    if (c) (*env)->ThrowNew(env, c, message);
}

/* Throws KwvkException(r, kwvk_result_name(r), kwvk_last_error()). */
static void kj_throw_result(JNIEnv *env, kwvk_result r)
{
    const char *detail = kwvk_last_error();
    jstring name = kj_string(env, kwvk_result_name(r));
    jstring msg = name ? kj_string(env, detail && *detail ? detail : "(no detail)") : NULL;
    if (!msg) return; /* OutOfMemoryError pending */
    jobject e = (*env)->NewObject(env, kj_exception_class, kj_exception_init, (jint)r, name, msg);
    if (e) (*env)->Throw(env, (jthrowable)e);
}

/* A NUL-terminated copy of a Java byte[] (NULL for a null array, or with an exception
 * pending on failure: *failed = 1). */
static char *kj_cstr(JNIEnv *env, jbyteArray a, int *failed)
{
    if (!a) return NULL;
    jsize n = (*env)->GetArrayLength(env, a);
    char *s = malloc((size_t)n + 1);
    if (!s) {
        kj_throw(env, "java/lang/OutOfMemoryError", "kwvk_jni: string");
        *failed = 1;
        return NULL;
    }
    (*env)->GetByteArrayRegion(env, a, 0, n, (jbyte *)s);
    s[n] = 0;
    if (memchr(s, 0, (size_t)n)) {
        kj_throw(env, "java/lang/IllegalArgumentException", "a path or name contains a NUL character");
        free(s);
        *failed = 1;
        return NULL;
    }
    return s;
}

static kj_handle *kj_get(JNIEnv *env, jlong handle)
{
    kj_handle *h = (kj_handle *)(intptr_t)handle;
    if (!h) kj_throw(env, "java/lang/IllegalStateException", "the classifier is closed");
    return h;
}

/* ---------------------------------------------------------------------------------------- */
/* Load and unload                                                                          */
/* ---------------------------------------------------------------------------------------- */

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved)
{
    (void)reserved;
    JNIEnv *env;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_6) != JNI_OK) return JNI_ERR;
    jclass e = (*env)->FindClass(env, "org/kwvk/KwvkException");
    jclass l = e ? (*env)->FindClass(env, "org/kwvk/Label") : NULL;
    if (!l) return JNI_ERR;
    kj_exception_class = (jclass)(*env)->NewGlobalRef(env, e);
    kj_label_class = (jclass)(*env)->NewGlobalRef(env, l);
    if (!kj_exception_class || !kj_label_class) return JNI_ERR;
    kj_exception_init = (*env)->GetMethodID(env, e, "<init>", "(ILjava/lang/String;Ljava/lang/String;)V");
    kj_label_init = (*env)->GetMethodID(env, l, "<init>", "(IFLjava/lang/String;)V");
    if (!kj_exception_init || !kj_label_init) return JNI_ERR;
    return JNI_VERSION_1_6;
}

static void kj_free(kj_handle *h)
{
    if (!h) return;
    kwvk_net_destroy(h->net); /* net before context; the model outlives the net */
    kwvk_context_destroy(h->ctx);
    kwvk_model_destroy(h->model);
    free(h);
}

JNIEXPORT jlong JNICALL Java_org_kwvk_Classifier_nOpen(JNIEnv *env, jclass cls, jbyteArray path, jbyteArray bytes,
                                                       jbyteArray device, jbyteArray cache_dir, jboolean validation)
{
    (void)cls;
    int failed = 0;
    char *path_s = kj_cstr(env, path, &failed);
    char *device_s = failed ? NULL : kj_cstr(env, device, &failed);
    char *cache_s = failed ? NULL : kj_cstr(env, cache_dir, &failed);
    kj_handle *h = failed ? NULL : calloc(1, sizeof *h);
    if (!h) {
        if (!failed) kj_throw(env, "java/lang/OutOfMemoryError", "kwvk_jni: handle");
        free(path_s), free(device_s), free(cache_s);
        return 0;
    }
    kwvk_result r;
    if (path_s) {
        r = kwvk_model_load_file(path_s, &h->model);
    } else {
        /* no JNI calls between Get and Release: the bytes are copied by the library */
        jsize n = (*env)->GetArrayLength(env, bytes);
        void *p = (*env)->GetPrimitiveArrayCritical(env, bytes, NULL);
        if (!p) {
            free(h), free(device_s), free(cache_s);
            return 0; /* OutOfMemoryError pending */
        }
        r = kwvk_model_load_memory(p, (size_t)n, &h->model);
        (*env)->ReleasePrimitiveArrayCritical(env, bytes, p, JNI_ABORT);
    }
    if (r == KWVK_OK) r = kwvk_model_get_info(h->model, &h->info);
    if (r == KWVK_OK) {
        kwvk_context_desc cd = {.device = device_s, .cache_dir = cache_s, .enable_validation = validation ? 1 : 0};
        r = kwvk_context_create(&cd, &h->ctx);
    }
    if (r == KWVK_OK) r = kwvk_net_create(h->ctx, h->model, NULL, &h->net);
    uint32_t out_chw[3] = {0, 0, 0};
    if (r == KWVK_OK)
        r = kwvk_net_output_shape(h->net, h->info.input_channels, h->info.input_height, h->info.input_width, out_chw);
    free(path_s), free(device_s), free(cache_s);
    uint64_t outputs = (uint64_t)out_chw[0] * out_chw[1] * out_chw[2];
    if (r == KWVK_OK && (outputs == 0 || outputs > INT32_MAX)) {
        kj_free(h);
        kj_throw(env, "java/lang/UnsupportedOperationException", "the model's output size does not fit a Java array");
        return 0;
    }
    if (r != KWVK_OK) {
        kj_throw_result(env, r); /* before kj_free: destroy calls leave the last error alone, but be safe */
        kj_free(h);
        return 0;
    }
    h->num_outputs = (uint32_t)outputs;
    return (jlong)(intptr_t)h;
}

JNIEXPORT void JNICALL Java_org_kwvk_Classifier_nClose(JNIEnv *env, jclass cls, jlong handle)
{
    (void)env, (void)cls;
    kj_free((kj_handle *)(intptr_t)handle);
}

/* ---------------------------------------------------------------------------------------- */
/* Information                                                                              */
/* ---------------------------------------------------------------------------------------- */

JNIEXPORT jintArray JNICALL Java_org_kwvk_Classifier_nInfo(JNIEnv *env, jclass cls, jlong handle)
{
    (void)cls;
    kj_handle *h = kj_get(env, handle);
    if (!h) return NULL;
    jint v[5] = {(jint)h->info.input_channels, (jint)h->info.input_height, (jint)h->info.input_width,
                 (jint)h->info.num_classes, (jint)h->num_outputs};
    jintArray a = (*env)->NewIntArray(env, 5);
    if (a) (*env)->SetIntArrayRegion(env, a, 0, 5, v);
    return a;
}

JNIEXPORT jstring JNICALL Java_org_kwvk_Classifier_nLabel(JNIEnv *env, jclass cls, jlong handle, jint index)
{
    (void)cls;
    kj_handle *h = kj_get(env, handle);
    if (!h) return NULL;
    const char *label = index >= 0 ? kwvk_model_label(h->model, (uint32_t)index) : NULL;
    if (!label) {
        kj_throw(env, "java/lang/IndexOutOfBoundsException", "no such class");
        return NULL;
    }
    return kj_string(env, label);
}

JNIEXPORT jstring JNICALL Java_org_kwvk_Classifier_nDeviceName(JNIEnv *env, jclass cls, jlong handle)
{
    (void)cls;
    kj_handle *h = kj_get(env, handle);
    if (!h) return NULL;
    kwvk_device_info info;
    kwvk_result r = kwvk_context_device_info(h->ctx, &info);
    if (r != KWVK_OK) {
        kj_throw_result(env, r);
        return NULL;
    }
    info.name[sizeof info.name - 1] = 0;
    return kj_string(env, info.name);
}

JNIEXPORT jint JNICALL Java_org_kwvk_Classifier_nValidationMessages(JNIEnv *env, jclass cls, jlong handle)
{
    (void)cls;
    kj_handle *h = kj_get(env, handle);
    return h ? (jint)kwvk_context_validation_messages(h->ctx) : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Runs                                                                                     */
/* ---------------------------------------------------------------------------------------- */

/* Bytes a frame spans from its first byte (each plane's last row unpadded), or 0 when a
 * stride is too short for its row; the same rule as Frame.requiredBytes. */
static uint64_t kj_frame_bytes(uint32_t format, uint64_t w, uint64_t h, uint64_t stride, uint64_t uv_stride)
{
    uint64_t row;
    switch (format) {
    case KWVK_PIXEL_RGBA8:
    case KWVK_PIXEL_BGRA8: row = w * 4; break;
    case KWVK_PIXEL_RGB8: row = w * 3; break;
    case KWVK_PIXEL_GRAY8: row = w; break;
    case KWVK_PIXEL_YUYV: row = (w + 1) / 2 * 4; break;
    case KWVK_PIXEL_NV12:
    case KWVK_PIXEL_NV21: {
        uint64_t uv_row = (w + 1) / 2 * 2;
        if (stride < w || uv_stride < uv_row) return 0;
        return stride * h + uv_stride * ((h + 1) / 2 - 1) + uv_row;
    }
    default: return 0;
    }
    if (stride < row) return 0;
    return stride * (h - 1) + row;
}

JNIEXPORT void JNICALL Java_org_kwvk_Classifier_nRun(JNIEnv *env, jclass cls, jlong handle, jint format,
                                                     jbyteArray array, jobject direct, jint offset, jint available,
                                                     jint width, jint height, jint stride, jint uv_stride,
                                                     jint rotation, jint flags, jfloatArray out)
{
    (void)cls;
    kj_handle *h = kj_get(env, handle);
    if (!h) return;
    if (!out || (*env)->GetArrayLength(env, out) != (jsize)h->num_outputs) {
        kj_throw(env, "java/lang/IllegalArgumentException", "output array of the wrong length");
        return;
    }
    /* Where the data is, and how much of it there is, comes from the array or buffer itself,
     * not from the caller's numbers alone. */
    int64_t size = 0;
    uint8_t *base = NULL;
    if (direct) {
        base = (*env)->GetDirectBufferAddress(env, direct);
        size = (*env)->GetDirectBufferCapacity(env, direct);
        if (!base || size < 0) {
            kj_throw(env, "java/lang/IllegalArgumentException", "not a direct buffer");
            return;
        }
    } else if (array) {
        size = (*env)->GetArrayLength(env, array);
    } else {
        kj_throw(env, "java/lang/NullPointerException", "frame data");
        return;
    }
    uint64_t need =
        width > 0 && height > 0 && stride > 0 && uv_stride > 0
            ? kj_frame_bytes((uint32_t)format, (uint64_t)width, (uint64_t)height, (uint64_t)stride, (uint64_t)uv_stride)
            : 0;
    if (need == 0 || offset < 0 || available < 0 || (int64_t)offset + available > size || need > (uint64_t)available) {
        kj_throw(env, "java/lang/IllegalArgumentException", "the frame does not fit its data");
        return;
    }

    /* A heap array is copied (the frame's bytes only) rather than pinned: a pinned array
     * would hold up the garbage collector while the GPU runs. A direct buffer is read in
     * place. */
    uint8_t *copy = NULL;
    if (!direct) {
        copy = malloc((size_t)need);
        if (copy) (*env)->GetByteArrayRegion(env, array, offset, (jsize)need, (jbyte *)copy);
    }
    float *logits = malloc(h->num_outputs * sizeof *logits);
    if (!logits || (!direct && !copy)) {
        free(copy);
        free(logits);
        kj_throw(env, "java/lang/OutOfMemoryError", "kwvk_jni: frame");
        return;
    }
    kwvk_image image = {
        .format = (uint32_t)format,
        .width = (uint32_t)width,
        .height = (uint32_t)height,
        .stride = (uint32_t)stride,
        .data = direct ? base + offset : copy,
        .uv = NULL, /* NV12/NV21: right after the Y plane, at stride * height */
        .uv_stride = (uint32_t)uv_stride,
        .rotation = (uint32_t)rotation,
        .flags = (uint32_t)flags,
    };
    kwvk_result r = kwvk_net_run_images(h->net, &image, 1, logits, h->num_outputs);
    free(copy);
    if (r == KWVK_OK)
        (*env)->SetFloatArrayRegion(env, out, 0, (jsize)h->num_outputs, logits);
    else
        kj_throw_result(env, r);
    free(logits);
}

JNIEXPORT jobjectArray JNICALL Java_org_kwvk_Classifier_nTopK(JNIEnv *env, jclass cls, jlong handle, jfloatArray logits,
                                                              jint k, jboolean softmax)
{
    (void)cls;
    kj_handle *h = kj_get(env, handle);
    if (!h) return NULL;
    jsize n = logits ? (*env)->GetArrayLength(env, logits) : 0;
    if (n <= 0 || k < 1 || k > n) {
        kj_throw(env, "java/lang/IllegalArgumentException", "top-k: k must be in 1..logits.length");
        return NULL;
    }
    float *v = malloc((size_t)n * sizeof *v);
    kwvk_class_score *best = malloc((size_t)k * sizeof *best);
    jobjectArray result = NULL;
    if (!v || !best) {
        kj_throw(env, "java/lang/OutOfMemoryError", "kwvk_jni: top-k");
        goto done;
    }
    (*env)->GetFloatArrayRegion(env, logits, 0, n, v);
    kwvk_result r =
        kwvk_top_k(h->model, v, (uint32_t)n, (uint32_t)k, softmax ? KWVK_SCORES_SOFTMAX : KWVK_SCORES_LOGITS, best);
    if (r != KWVK_OK) {
        kj_throw_result(env, r);
        goto done;
    }
    result = (*env)->NewObjectArray(env, k, kj_label_class, NULL);
    for (jint i = 0; result && i < k; i++) {
        jstring name = kj_string(env, best[i].label);
        jobject label = name ? (*env)->NewObject(env, kj_label_class, kj_label_init, (jint)best[i].index,
                                                 (jfloat)best[i].score, name)
                             : NULL;
        if (!label) {
            result = NULL; /* exception pending */
            break;
        }
        (*env)->SetObjectArrayElement(env, result, i, label);
        (*env)->DeleteLocalRef(env, label);
        (*env)->DeleteLocalRef(env, name);
    }
done:
    free(v);
    free(best);
    return result;
}
