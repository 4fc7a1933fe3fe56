<?php
// Compatibility matrix client: PHPMailer (Debian libphp-phpmailer) sends the matrix message.
// Usage: php phpmailer-send.php <spec.json>   (spec: see test/helpers/matrix.ts matrixSpec)
// Prints "OK <last SMTP reply>" or "ERROR <PHPMailer error>" and the SMTP dialogue (SMTPDebug).
use PHPMailer\PHPMailer\PHPMailer;
use PHPMailer\PHPMailer\Exception;

require '/usr/share/php/libphp-phpmailer/autoload.php';

$spec = json_decode(file_get_contents($argv[1]), true, 512, JSON_THROW_ON_ERROR);
$mail = new PHPMailer(true);
try {
    $mail->isSMTP();
    $mail->Host = '127.0.0.1';
    $mail->Port = $spec['port'];
    $mail->SMTPSecure = $spec['mode'] === 'smtps' ? PHPMailer::ENCRYPTION_SMTPS : PHPMailer::ENCRYPTION_STARTTLS;
    $mail->SMTPAutoTLS = false;
    $mail->SMTPAuth = true;
    $mail->AuthType = $spec['authType'];
    $mail->Username = $spec['user'];
    $mail->Password = $spec['password'];
    $mail->SMTPOptions = ['ssl' => ['cafile' => $spec['caFile'], 'verify_peer' => true, 'verify_peer_name' => false, 'allow_self_signed' => true]];
    $mail->SMTPDebug = 2;             // client and server lines
    $mail->Debugoutput = 'echo';
    $mail->Timeout = 15;
    $mail->CharSet = PHPMailer::CHARSET_UTF8;

    $mail->setFrom($spec['fromAddress'], $spec['fromName']);
    $mail->addAddress($spec['to'][0], $spec['toNames'][0]);
    $mail->addAddress($spec['to'][1], $spec['toNames'][1]);
    $mail->addCC($spec['cc']);
    $mail->addBCC($spec['bcc']);
    $mail->Subject = $spec['subject'];
    $mail->isHTML(true);
    $mail->Body = $spec['html'];
    $mail->AltBody = $spec['text'];
    $mail->addAttachment($spec['pdfPath'], $spec['pdfName'], PHPMailer::ENCODING_BASE64, 'application/pdf');
    $mail->send();
    echo "\nOK\n";
} catch (Exception $e) {
    echo "\nERROR ", $mail->ErrorInfo, "\n";
    exit(1);
}
